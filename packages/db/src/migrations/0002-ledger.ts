import { sql, type Kysely, type Migration } from 'kysely';
import { dialectOf } from '../dialect.ts';
import { PG_TEXT, appendOnly, refuseInsertWhen } from './postgres.ts';

/**
 * The audit ledger (@covenant/ledger): entries, each stored as its canonical bytes with its RFC 9162 leaf
 * hash, and the signed checkpoints (C2SP signed notes) that commit to every prefix the store sealed.
 *
 * Both tables are append-only at the storage layer: UPDATE, DELETE and an INSERT naming an existing key
 * (INSERT OR REPLACE deletes the old row without firing delete triggers) are refused, and entries must be
 * gap-free (seq = current size) and checkpoints must grow. This stops bugs and careless hands, not an
 * attacker with the file: they can drop the triggers. Against them, `verifyLedger` and the signatures are
 * the boundary.
 *
 * On PostgreSQL the same tables use `bigint`, `bytea` and `text collate "C"`, and the same protections are
 * PL/pgSQL triggers (TRUNCATE is refused too). The SQLite statements are those of the first release.
 */
export const ledgerMigration: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    const postgres = dialectOf(db) === 'postgres';
    const text = postgres ? PG_TEXT : 'text';
    const integer = postgres ? 'bigint' : 'integer';
    const blob = postgres ? 'bytea' : 'blob';
    await db.schema
      .createTable('ledger_entries')
      .addColumn('seq', integer, (c) => c.primaryKey())
      .addColumn('body', blob, (c) => c.notNull())
      .addColumn('leaf_hash', blob, (c) => c.notNull())
      .addColumn('kind', text, (c) => c.notNull())
      .addColumn('request_id', text)
      .addColumn('at', text, (c) => c.notNull())
      .execute();
    // Intents are looked up by request id when outcomes are recorded and when a crash is recovered.
    await db.schema.createIndex('ledger_entries_request').on('ledger_entries').columns(['request_id']).execute();

    await db.schema
      .createTable('ledger_checkpoints')
      .addColumn('size', integer, (c) => c.primaryKey())
      .addColumn('root', blob, (c) => c.notNull())
      .addColumn('note', text, (c) => c.notNull())
      .addColumn('at', text, (c) => c.notNull())
      .execute();

    if (postgres) {
      for (const table of ['ledger_entries', 'ledger_checkpoints']) await appendOnly(db, table);
      await refuseInsertWhen(db, 'ledger_entries', 'ledger_entries_no_replace',
        'new.seq is null or new.seq <> (select coalesce(max(seq) + 1, 0) from ledger_entries)', 'ledger_entries is append-only and gap-free');
      await refuseInsertWhen(db, 'ledger_checkpoints', 'ledger_checkpoints_no_replace',
        'new.size is null or new.size <= (select coalesce(max(size), -1) from ledger_checkpoints)', 'ledger_checkpoints is append-only and grows');
      return;
    }
    for (const table of ['ledger_entries', 'ledger_checkpoints']) {
      await sql`create trigger ${sql.raw(`${table}_no_update`)} before update on ${sql.table(table)}
        begin select raise(abort, ${sql.lit(`${table} is append-only`)}); end`.execute(db);
      await sql`create trigger ${sql.raw(`${table}_no_delete`)} before delete on ${sql.table(table)}
        begin select raise(abort, ${sql.lit(`${table} is append-only`)}); end`.execute(db);
    }
    await sql`create trigger ledger_entries_no_replace before insert on ledger_entries
      when new.seq is null or new.seq <> (select coalesce(max(seq) + 1, 0) from ledger_entries)
      begin select raise(abort, 'ledger_entries is append-only and gap-free'); end`.execute(db);
    await sql`create trigger ledger_checkpoints_no_replace before insert on ledger_checkpoints
      when new.size is null or new.size <= (select coalesce(max(size), -1) from ledger_checkpoints)
      begin select raise(abort, 'ledger_checkpoints is append-only and grows'); end`.execute(db);
  },
};
