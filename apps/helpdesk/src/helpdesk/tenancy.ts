import { SERVICE_ROLE, dialectOf, tenantGuard, withSavepoint } from '@covenant/db';
import type { DatabaseScope, DatabaseScopeCall } from '@covenant/core';
import { sql, type Kysely, type Migration } from 'kysely';

/** The helpdesk's tenant tables: every row carries `org` and `workspace` (see tables.ts). */
export const HELPDESK_TABLES = Object.freeze(['helpdesk_customers', 'helpdesk_tickets', 'helpdesk_comments'] as const);

/** The PostgreSQL role handlers' statements run as (NOLOGIN, no BYPASSRLS): row-level security applies to it. */
export const TENANT_ROLE = 'covenant_tenant';

/** The procedures whose handlers run in the tenant scope: the helpdesk's own (the platform ones use their stores). */
const SCOPED_CONTRACTS = new Set(['customers', 'tickets', 'comments']);

/**
 * Migration 1002-helpdesk-tenancy (ADR 0011). On PostgreSQL: the role `covenant_tenant` (cluster-wide,
 * created once whoever gets there first), allowed to use the helpdesk tables and nothing else; row-level
 * security enabled and forced on them, with one policy per table that lets a statement see and write only
 * rows of the tenant set for the transaction (`covenant.org`, and `covenant.workspace` unless empty). A
 * transaction that set no tenant sees nothing. On SQLite there is nothing to create (the tenant guard
 * plugin does the job), and the migration only records itself.
 */
export const tenancyMigration: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    if (dialectOf(db) !== 'postgres') return;
    const role = sql.id(TENANT_ROLE);
    // Roles are per cluster: another database (or test schema) migrating at the same time may create it
    // between our check and our create, which is a duplicate_object or a unique_violation on pg_authid.
    await sql`do $$ begin
        if not exists (select from pg_roles where rolname = ${sql.lit(TENANT_ROLE)}) then
          create role ${role} nologin;
        end if;
      exception when duplicate_object or unique_violation then null;
      end $$`.execute(db);
    // The migrating user must be able to SET ROLE to it (a superuser always can).
    await sql`do $$ begin
        if not pg_has_role(current_user, ${sql.lit(TENANT_ROLE)}, 'member') then
          execute format('grant %I to %I', ${sql.lit(TENANT_ROLE)}, current_user);
        end if;
      end $$`.execute(db);
    await sql`do $$ begin execute format('grant usage on schema %I to %I', current_schema(), ${sql.lit(TENANT_ROLE)}); end $$`.execute(db);
    for (const table of HELPDESK_TABLES) {
      const t = sql.table(table);
      await sql`grant select, insert, update, delete on ${t} to ${role}`.execute(db);
      // The identity column's sequence (`seq`), which inserts draw from.
      await sql`do $$ begin
          execute format('grant usage on sequence %s to %I', pg_get_serial_sequence(${sql.lit(table)}, 'seq'), ${sql.lit(TENANT_ROLE)});
        end $$`.execute(db);
      await sql`alter table ${t} enable row level security`.execute(db);
      await sql`alter table ${t} force row level security`.execute(db);
      const tenantRow = sql`org = current_setting('covenant.org', true)
        and (coalesce(current_setting('covenant.workspace', true), '') = '' or workspace = current_setting('covenant.workspace', true))`;
      await sql`create policy ${sql.id(`${table}_tenant`)} on ${t} using (${tenantRow}) with check (${tenantRow})`.execute(db);
    }
  },
};

/**
 * Migration 1003-helpdesk-service-role (ADR 0013). On PostgreSQL the service serves as a member of
 * `covenant_service` (framework migration 0004), not as the owner who ran 1002: this lets that role run
 * the handlers as `covenant_tenant` (`SET LOCAL ROLE`). It needs nothing on the helpdesk tables itself: the
 * handlers reach them as the tenant role only, under row-level security. Granting a role takes the
 * migrating owner's CREATEROLE (or ADMIN OPTION on `covenant_tenant`). On SQLite it only records itself.
 */
export const serviceTenancyMigration: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    if (dialectOf(db) !== 'postgres') return;
    await sql`grant ${sql.id(TENANT_ROLE)} to ${sql.id(SERVICE_ROLE)}`.execute(db);
  },
};

/**
 * The helpdesk's `databaseScope` (see `createCovenantRuntime`): the handlers of the helpdesk contracts
 * run confined to the caller's tenant in the database, under their own `ofTenant` filters, so a handler
 * that forgets one still cannot reach another tenant's rows (ADR 0011).
 *
 * - PostgreSQL: inside a transaction — the audited call's (the ledger batch's, in a savepoint of its own),
 *   or for an unaudited one a new READ ONLY transaction on the base handle — the statements run as
 *   `covenant_tenant` with `covenant.org` / `covenant.workspace` set locally, so row-level security applies.
 *   Afterwards the role and settings are reset (or rolled back with the savepoint): the ledger batch goes
 *   on in the same transaction and writes its own tables as the serving role. The tenant guard is not applied
 *   there: RLS is the control, and it also covers raw SQL.
 * - SQLite: the handle is wrapped in `tenantGuard`, which refuses a statement on a helpdesk table that is
 *   not filtered on the tenant (`ERR_DB_TENANT_FILTER_MISSING`, a 500 for the caller).
 *
 * Other procedures (platform, rbac, ledger), and calls without a tenant or database, get `db` as is.
 */
export const helpdeskTenantScope: DatabaseScope = async <T>(call: DatabaseScopeCall, work: (db: unknown) => Promise<T>): Promise<T> => {
  const contract = call.path.split('.')[0] ?? '';
  if (!SCOPED_CONTRACTS.has(contract) || call.db === undefined) return work(call.db);
  const db = call.db as Kysely<any>;
  const tenant = call.tenant;
  if (dialectOf(db) !== 'postgres') return work(db.withPlugin(tenantGuard(tenant, HELPDESK_TABLES)));
  if (call.audited) return withSavepoint(db, (tx) => asTenant(tx, tenant, work));
  // Unaudited: `db` is the read-only handle; the session statements go through its plugin-free twin.
  return db.transaction().execute(async (trx) => {
    await sql`set transaction read only`.execute(trx.withoutPlugins());
    return asTenant(trx, tenant, work);
  });
};

/** Runs `work` on `conn` (one connection, in a transaction) as the tenant role with the tenant set, then resets both. */
async function asTenant<T>(conn: Kysely<any>, tenant: DatabaseScopeCall['tenant'], work: (db: unknown) => Promise<T>): Promise<T> {
  const raw = conn.withoutPlugins();
  await sql`set local role ${sql.id(TENANT_ROLE)}`.execute(raw);
  await sql`select set_config('covenant.org', ${tenant?.org ?? ''}, true), set_config('covenant.workspace', ${tenant?.workspace ?? ''}, true)`.execute(raw);
  const result = await work(conn);
  // On success only: after an error the savepoint (audited) or the transaction (unaudited) is rolled
  // back, which undoes these settings with everything else.
  await sql`select set_config('covenant.org', '', true), set_config('covenant.workspace', '', true)`.execute(raw);
  await sql`reset role`.execute(raw);
  return result;
}

