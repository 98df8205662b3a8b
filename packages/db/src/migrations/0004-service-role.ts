import { sql, type Kysely, type Migration } from 'kysely';
import { dialectOf } from '../dialect.ts';

/** The NOLOGIN role the framework's migrations grant the serving privileges to (ADR 0013). */
export const SERVICE_ROLE = 'covenant_service';

/**
 * What a serving role needs on each framework table, and nothing more (ADR 0013). The ledger tables and the
 * RBAC change log are read and appended to; the RBAC state is what the RBAC store changes
 * (`rbac_epochs` is an upsert, hence UPDATE; capabilities are only ever added). The migration log is read
 * to check at start-up that the schema is current.
 */
export const SERVICE_GRANTS: Readonly<Record<string, ReadonlyArray<'select' | 'insert' | 'update' | 'delete'>>> = Object.freeze({
  ledger_entries: ['select', 'insert'],
  ledger_checkpoints: ['select', 'insert'],
  rbac_changes: ['select', 'insert'],
  rbac_capabilities: ['select', 'insert'],
  rbac_roles: ['select', 'insert', 'update', 'delete'],
  rbac_role_capabilities: ['select', 'insert', 'delete'],
  rbac_bindings: ['select', 'insert', 'delete'],
  rbac_epochs: ['select', 'insert', 'update'],
  // Revocations are only ever added (a row that no longer applies is harmless): no UPDATE, no DELETE.
  identity_revocations: ['select', 'insert'],
  covenant_migrations: ['select'],
});

/**
 * Migration 0004-service-role. On PostgreSQL, migrations run as the owner of the tables and the service
 * serves as another role that cannot alter, disable or delete what it only appends to (ADR 0013): this
 * creates the NOLOGIN role `covenant_service` (cluster-wide, created once, whoever gets there first) and
 * grants it USAGE on the schema and `SERVICE_GRANTS` on the tables. An operator makes the service's login
 * role a member (`grant covenant_service to helpdesk_app`). No TRUNCATE, REFERENCES or TRIGGER anywhere, and
 * no ownership: DISABLE TRIGGER, DROP TRIGGER and ALTER TABLE need the owner. On SQLite there are no roles
 * (the ledger store verifies the schema instead), and the migration only records itself.
 */
export const serviceRoleMigration: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    if (dialectOf(db) !== 'postgres') return;
    // Roles are per cluster: another database (or test schema) migrating at the same time may create it
    // between our check and our create (duplicate_object, or unique_violation on pg_authid).
    await sql`do $$ begin
        if not exists (select from pg_roles where rolname = ${sql.lit(SERVICE_ROLE)}) then
          create role ${sql.id(SERVICE_ROLE)} nologin;
        end if;
      exception when duplicate_object or unique_violation then null;
      end $$`.execute(db);
    await sql`do $$ begin execute format('grant usage on schema %I to %I', current_schema(), ${sql.lit(SERVICE_ROLE)}); end $$`.execute(db);
    for (const [table, privileges] of Object.entries(SERVICE_GRANTS)) {
      await sql`grant ${sql.raw(privileges.join(', '))} on ${sql.table(table)} to ${sql.id(SERVICE_ROLE)}`.execute(db);
    }
  },
};
