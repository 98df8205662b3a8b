import { sql, type Kysely } from 'kysely';
import { dialectOf } from './dialect.ts';

/** What the serving role may only do with some tables, checked by `assertServingRole`. */
export interface ServingRolePolicy {
  /** Tables it may only read and append to: SELECT and INSERT, nothing else (the ledger's tables). */
  readonly appendOnly?: ReadonlyArray<string>;
  /** Tables under row-level security it must not escape (the application's tenant tables, ADR 0011). */
  readonly rowLevelSecurity?: ReadonlyArray<string>;
}

/** One thing a role may do that the policy forbids, or needs and may not. */
export interface RoleFinding {
  /** The role that holds it: the connection's role, or a role it can `SET ROLE` to. */
  readonly role: string;
  /**
   * A privilege (`UPDATE`, `DELETE`, `TRUNCATE`, `TRIGGER`, `REFERENCES`, `CREATE`, `TEMPORARY`, `SET`,
   * `SELECT`, `INSERT`, `USAGE`), `OWNER`, a role attribute (`SUPERUSER`, `CREATEROLE`, `BYPASSRLS`), or a
   * predefined role that reaches past privileges (`pg_execute_server_program`, `pg_write_server_files`).
   */
  readonly privilege: string;
  /** What on: a table, `database`, `schema <name>`, `parameter <name>`; `null` for a role attribute or membership. */
  readonly on: string | null;
}

/**
 * The connection's role can do more than the policy allows with tables it must only append to or be
 * confined by: refuse to serve (ADR 0013). `findings` lists each privilege and which role holds it.
 */
export class PrivilegedRoleError extends Error {
  override readonly name = 'PrivilegedRoleError';
  readonly code = 'ERR_DB_ROLE_PRIVILEGED' as const;
  readonly findings: ReadonlyArray<RoleFinding>;

  constructor(role: string, findings: ReadonlyArray<RoleFinding>) {
    super(
      `the database role "${role}" holds ${describe(role, findings)}: serve as a role that may only SELECT and INSERT the ` +
        'append-only tables (a member of covenant_service) and run the migrations as their owner (ADR 0013)',
    );
    this.findings = freeze(findings);
  }
}

/** The connection's role lacks a privilege it needs on the tables (not a member of `covenant_service`?). */
export class MissingPrivilegeError extends Error {
  override readonly name = 'MissingPrivilegeError';
  readonly code = 'ERR_DB_ROLE_MISSING_PRIVILEGE' as const;
  readonly findings: ReadonlyArray<RoleFinding>;

  constructor(role: string, findings: ReadonlyArray<RoleFinding>) {
    super(
      `the database role "${role}" lacks ${describe(role, findings)}: grant covenant_service to it, ` +
        'and run the migrations (as the owner) before serving (ADR 0013)',
    );
    this.findings = freeze(findings);
  }
}

function describe(role: string, findings: ReadonlyArray<RoleFinding>): string {
  return findings.map((f) => `${f.privilege}${f.on === null ? '' : ` on ${f.on}`}${f.role === role ? '' : ` (through role "${f.role}")`}`).join(', ');
}

function freeze(findings: ReadonlyArray<RoleFinding>): ReadonlyArray<RoleFinding> {
  return Object.freeze(findings.map((f) => Object.freeze({ ...f })));
}

/** Privileges that let a role change or remove rows of an append-only table, or attach code to it. */
const WRITE_PRIVILEGES = ['UPDATE', 'DELETE', 'TRUNCATE', 'TRIGGER', 'REFERENCES'] as const;
/** Predefined roles whose members can rewrite the server's files or run programs as the server. */
const SERVER_ROLES = ['pg_execute_server_program', 'pg_write_server_files'];
const TABLE_NAME = /^[a-z_][a-z0-9_]*$/;

/**
 * Refuses to serve, on PostgreSQL, through a role that could undo what the policy's tables promise. It
 * looks at the connection's role and at every role it can `SET ROLE` to (`pg_has_role(…, 'MEMBER')`):
 *
 * - none may be a superuser, have CREATEROLE (which can grant itself the owner role), or belong to
 *   `pg_execute_server_program` / `pg_write_server_files`;
 * - `appendOnly` tables: none may own them (or be a member of their owner: ALTER TABLE, DISABLE TRIGGER,
 *   DROP TRIGGER) or hold UPDATE (on any column), DELETE, TRUNCATE, TRIGGER or REFERENCES on them; none may
 *   create objects that could shadow them (CREATE on the database or on any schema, TEMPORARY: a temporary
 *   table of the same name comes first on the search path) or SET `session_replication_role` (which
 *   silences triggers); and the connection's role itself needs SELECT and INSERT on them;
 * - `rowLevelSecurity` tables: none may own them (ALTER TABLE … NO FORCE ROW LEVEL SECURITY) or have BYPASSRLS.
 *
 * Throws `PrivilegedRoleError` (`ERR_DB_ROLE_PRIVILEGED`) or `MissingPrivilegeError`
 * (`ERR_DB_ROLE_MISSING_PRIVILEGE`) listing every finding. Does nothing on SQLite (it has no roles: the
 * ledger verifies its schema instead, see `createSchemaGuard`).
 *
 * @example
 * ```ts
 * await assertServingRole(db, { appendOnly: ['ledger_entries', 'ledger_checkpoints'] }); // at start-up
 * ```
 */
export async function assertServingRole(db: Kysely<any>, policy: ServingRolePolicy): Promise<void> {
  const appendOnly = tableList(policy?.appendOnly, 'appendOnly');
  const confined = tableList(policy?.rowLevelSecurity, 'rowLevelSecurity');
  if (dialectOf(db) !== 'postgres') return;
  const { rows: me } = await sql<{ role: string; version: number; superuser: boolean }>`
    select current_user::text as role, current_setting('server_version_num')::int as version,
      (select rolsuper from pg_roles where rolname = current_user) as superuser`.execute(db);
  const { role, version, superuser } = me[0]!;
  // A superuser is a member of every role: listing them all would bury the one finding that matters.
  if (superuser) throw new PrivilegedRoleError(role, [{ role, privilege: 'SUPERUSER', on: null }]);

  const forbidden: RoleFinding[] = [];
  const missing: RoleFinding[] = [];
  const { rows: reachable } = await sql<{ name: string; superuser: boolean; createrole: boolean; bypassrls: boolean }>`
    select rolname::text as name, rolsuper as superuser, rolcreaterole as createrole, rolbypassrls as bypassrls
    from pg_roles where pg_has_role(current_user, oid, 'MEMBER') order by rolname = current_user desc, rolname`.execute(db);
  for (const r of reachable) {
    if (r.superuser) forbidden.push({ role: r.name, privilege: 'SUPERUSER', on: null });
    if (r.createrole) forbidden.push({ role: r.name, privilege: 'CREATEROLE', on: null });
    if (r.bypassrls && confined.length > 0) forbidden.push({ role: r.name, privilege: 'BYPASSRLS', on: null });
    if (SERVER_ROLES.includes(r.name)) forbidden.push({ role, privilege: r.name, on: null });
  }
  const roles = reachable.map((r) => r.name);

  const tables = [...new Set([...appendOnly, ...confined])];
  const { rows: resolved } = await sql<{ name: string; found: boolean; owner: boolean; select: boolean; insert: boolean }>`
    select t.name, t.rel is not null as found,
      coalesce(pg_has_role(current_user, c.relowner, 'MEMBER'), false) as owner,
      coalesce(has_table_privilege(t.rel::oid, 'SELECT'), false) as select,
      coalesce(has_table_privilege(t.rel::oid, 'INSERT'), false) as insert
    from (select name, to_regclass(name) as rel from unnest(${tables}::text[]) as name) t
    left join pg_class c on c.oid = t.rel`.execute(db);
  for (const t of resolved) {
    // Not found: missing, or in a schema the role has no USAGE on (the search path skips those).
    if (!t.found) missing.push({ role, privilege: 'USAGE', on: `the schema of ${t.name} (or the table is missing)` });
    if (t.owner) forbidden.push({ role, privilege: 'OWNER', on: t.name });
    if (t.found && appendOnly.includes(t.name)) {
      if (!t.select) missing.push({ role, privilege: 'SELECT', on: t.name });
      if (!t.insert) missing.push({ role, privilege: 'INSERT', on: t.name });
    }
  }

  if (appendOnly.length > 0) {
    const { rows: grants } = await sql<{ role: string; table: string } & Record<(typeof WRITE_PRIVILEGES)[number], boolean>>`
      select r.name as role, t.name as table,
        has_any_column_privilege(r.name, t.rel::oid, 'UPDATE') as "UPDATE",
        has_table_privilege(r.name, t.rel::oid, 'DELETE') as "DELETE",
        has_table_privilege(r.name, t.rel::oid, 'TRUNCATE') as "TRUNCATE",
        has_table_privilege(r.name, t.rel::oid, 'TRIGGER') as "TRIGGER",
        has_any_column_privilege(r.name, t.rel::oid, 'REFERENCES') as "REFERENCES"
      from unnest(${roles}::text[]) with ordinality as r(name, n)
      cross join (select name, to_regclass(name) as rel from unnest(${appendOnly}::text[]) with ordinality as a(name, m)) t
      where t.rel is not null order by r.n`.execute(db);
    for (const g of grants) for (const privilege of WRITE_PRIVILEGES) if (g[privilege]) forbidden.push({ role: g.role, privilege, on: g.table });

    // has_parameter_privilege (SET on a parameter) exists from PostgreSQL 15; before, only a superuser could.
    const replica = version >= 150000 ? sql`has_parameter_privilege(r.name, 'session_replication_role', 'SET')` : sql`false`;
    const { rows: creators } = await sql<{ role: string; database: boolean; temporary: boolean; replica: boolean; schemas: string[] }>`
      select r.name as role,
        has_database_privilege(r.name, current_database(), 'CREATE') as database,
        has_database_privilege(r.name, current_database(), 'TEMPORARY') as temporary,
        ${replica} as replica,
        array(select nspname::text from pg_namespace n where has_schema_privilege(r.name, n.oid, 'CREATE') order by 1) as schemas
      from unnest(${roles}::text[]) with ordinality as r(name, n) order by r.n`.execute(db);
    for (const c of creators) {
      if (c.database) forbidden.push({ role: c.role, privilege: 'CREATE', on: 'database' });
      if (c.temporary) forbidden.push({ role: c.role, privilege: 'TEMPORARY', on: 'database' });
      if (c.replica) forbidden.push({ role: c.role, privilege: 'SET', on: 'parameter session_replication_role' });
      for (const schema of c.schemas) forbidden.push({ role: c.role, privilege: 'CREATE', on: `schema ${schema}` });
    }
  }
  if (forbidden.length > 0) throw new PrivilegedRoleError(role, forbidden);
  if (missing.length > 0) throw new MissingPrivilegeError(role, missing);
}

function tableList(value: ReadonlyArray<string> | undefined, option: string): ReadonlyArray<string> {
  if (value === undefined) return [];
  if (!Array.isArray(value) || !value.every((t) => typeof t === 'string' && TABLE_NAME.test(t))) {
    throw new TypeError(`assertServingRole: "${option}" must be an array of table names`);
  }
  return value;
}
