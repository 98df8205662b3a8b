import { type Kysely, type Migration, sql } from 'kysely';
import { dialectOf } from '../dialect.ts';
import { PG_TEXT } from './postgres.ts';

/**
 * Revoked sessions and tokens (`@covenant/identity/revocation-store`): one row per revocation, of a
 * session (`kind` `session`, `value` its `sid`) or of one token (`token`, its `jti`, with the token's
 * expiry, until which the row must be kept). Every revocation belongs to the tenant that made it: it
 * applies to tokens of `org` only, and, when `workspace` is set, to tokens of that workspace only.
 *
 * Verification asks on every call, so the lookup is one index probe: `(org, value)`. Rows are facts with
 * who, when and why; a revocation is never updated. Both dialects as in 0001/0002 (`text collate "C"`
 * on PostgreSQL: ids compare bytewise, as on SQLite).
 */
export const revocationsMigration: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    const text = dialectOf(db) === 'postgres' ? PG_TEXT : 'text';
    await db.schema
      .createTable('identity_revocations')
      .addColumn('id', text, (c) => c.primaryKey())
      .addColumn('org', text, (c) => c.notNull())
      .addColumn('workspace', text)
      .addColumn('kind', text, (c) => c.notNull().check(sql`kind in ('session', 'token')`))
      .addColumn('value', text, (c) => c.notNull())
      .addColumn('expires_at', text)
      .addColumn('revoked_at', text, (c) => c.notNull())
      .addColumn('revoked_by', text, (c) => c.notNull())
      .addColumn('reason', text, (c) => c.notNull())
      .addColumn('request_id', text)
      // A token revocation says until when it must hold; a session revocation holds for good.
      .addCheckConstraint('identity_revocations_expiry', sql`(kind = 'token') = (expires_at is not null)`)
      .execute();
    await db.schema.createIndex('identity_revocations_lookup').on('identity_revocations').columns(['org', 'value']).execute();
  },
};
