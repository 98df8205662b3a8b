import { sql, type CompiledQuery, type Kysely } from 'kysely';
import { createDatabase } from './create-database.ts';
import { dialectOf } from './dialect.ts';
import { MIGRATIONS, migrateToLatest } from './migrate.ts';
import { appendOnlyTriggers, insertCheckTrigger, type PgTriggerSpec } from './migrations/postgres.ts';

/** One way a table, index or trigger differs from what the migrations create. */
export interface SchemaDifference {
  /** `table`, `index`, `trigger`, `view`, or `rule` / `row level security` (PostgreSQL). */
  readonly type: string;
  /** The object's name (`temp.<name>` for an object in SQLite's temp schema). */
  readonly name: string;
  /**
   * - `missing`: the migrations create it, the database does not have it;
   * - `unexpected`: the database has it (on or shadowing one of the checked tables), the migrations do not create it;
   * - `altered`: both have it, with another definition (SQL text; on PostgreSQL timing, event, level, WHEN, function);
   * - `disabled`: a PostgreSQL trigger that exists but does not fire (`ALTER TABLE … DISABLE TRIGGER`);
   * - `replaced`: the name now resolves to another table than the one verified first (dropped and
   *   recreated, or shadowed by a temporary table or another schema on the search path; PostgreSQL).
   */
  readonly problem: 'missing' | 'unexpected' | 'altered' | 'disabled' | 'replaced';
}

/**
 * The schema of tables whose integrity a store relies on (the ledger's append-only triggers) is not what
 * the migrations create. Once a guard has thrown it, it throws it for every later check.
 */
export class SchemaAlteredError extends Error {
  override readonly name = 'SchemaAlteredError';
  readonly code = 'ERR_DB_SCHEMA_ALTERED' as const;
  readonly differences: ReadonlyArray<SchemaDifference>;

  constructor(tables: ReadonlyArray<string>, differences: ReadonlyArray<SchemaDifference>) {
    super(
      `the schema of ${tables.join(', ')} differs from what the migrations create: ` +
        `${differences.map((d) => `${d.type} ${d.name} ${d.problem}`).join('; ')}; refusing to go on`,
    );
    this.differences = Object.freeze(differences.map((d) => Object.freeze({ ...d })));
  }
}

/** Checks, on each call, that the tables it guards are still what was verified when it was created. */
export interface SchemaGuard {
  /**
   * Re-verifies on `conn` (one connection; inside the caller's transaction, so the answer holds until it
   * commits). Throws `SchemaAlteredError` when anything differs; once it has, it throws that error on
   * every later call without looking again (fail-stop: an altered schema is an incident, not a glitch).
   */
  check(conn: Kysely<any>): Promise<void>;
}

/**
 * The triggers the framework's migrations create on PostgreSQL, per append-only table: the expectation the
 * guard compares `pg_trigger` with (the SQLite expectation is read from a scratch database instead).
 */
const PG_TRIGGERS: Readonly<Record<string, ReadonlyArray<PgTriggerSpec>>> = Object.freeze({
  ledger_entries: [...appendOnlyTriggers('ledger_entries'), insertCheckTrigger('ledger_entries_no_replace')],
  ledger_checkpoints: [...appendOnlyTriggers('ledger_checkpoints'), insertCheckTrigger('ledger_checkpoints_no_replace')],
  rbac_changes: appendOnlyTriggers('rbac_changes'),
});

const TABLE_NAME = /^[a-z_][a-z0-9_]*$/;

/**
 * Verifies that `tables`, and every index and trigger on them, are exactly what the framework's migrations
 * create, and returns a guard that re-verifies cheaply (one query) whenever asked — the ledger store asks
 * once per batch, inside the batch transaction, before it signs. Throws `SchemaAlteredError` naming every
 * difference.
 *
 * - SQLite: the rows of `sqlite_schema` (type, name, table, SQL text) for the tables and everything on them,
 *   compared with those of a scratch in-memory database migrated with `MIGRATIONS` — so the expectation is
 *   what the migrations really create, not a copy of it. Objects in the connection's `temp` schema on or
 *   named like a guarded table are unexpected (a temporary table shadows the real one for that connection).
 *   SQLite lets any connection drop a trigger: this detects it, it cannot prevent it.
 * - PostgreSQL: each table resolves (through the search path) to the same relation as at creation, is an
 *   ordinary table without rules or row-level security, and has exactly the triggers the migrations create,
 *   each enabled, firing BEFORE on its event and level, without a WHEN clause or column list, calling its
 *   function. Whether the serving role could change any of that is `assertServingRole`'s question.
 *
 * @example
 * ```ts
 * const guard = await createSchemaGuard(db, ['ledger_entries', 'ledger_checkpoints']); // throws if altered
 * await guard.check(trx); // before each signature, inside the transaction
 * ```
 */
export async function createSchemaGuard(db: Kysely<any>, tables: ReadonlyArray<string>): Promise<SchemaGuard> {
  if (!Array.isArray(tables) || tables.length === 0 || !tables.every((t) => typeof t === 'string' && TABLE_NAME.test(t))) {
    throw new TypeError('createSchemaGuard: "tables" must be a non-empty array of table names');
  }
  const names = Object.freeze([...tables]);
  const postgres = dialectOf(db) === 'postgres';
  if (postgres) {
    const unknown = names.filter((t) => !Object.hasOwn(PG_TRIGGERS, t));
    if (unknown.length > 0) throw new TypeError(`createSchemaGuard: no PostgreSQL expectation for ${unknown.join(', ')}`);
  }
  const compare = postgres ? await pgComparison(db, names) : await sqliteComparison(db, names);
  let failure: SchemaAlteredError | null = null;
  const check = async (conn: Kysely<any>): Promise<void> => {
    if (failure !== null) throw failure;
    const differences = await compare(conn);
    if (differences.length > 0) {
      failure = new SchemaAlteredError(names, differences);
      throw failure;
    }
  };
  await check(db);
  return Object.freeze({ check });
}

type Comparison = (conn: Kysely<any>) => Promise<SchemaDifference[]>;

interface SchemaRow {
  readonly schema: 'main' | 'temp';
  readonly type: string;
  readonly name: string;
  readonly tbl_name: string;
  readonly sql: string | null;
}

/**
 * The guarded objects of the main and temp schemas, compiled once (literals only). Names compare as SQLite
 * resolves them, ASCII case-insensitively: a temporary `LEDGER_ENTRIES` shadows `ledger_entries` for its
 * connection, and a trigger on `Ledger_Entries` fires on it. `PRAGMA schema_version`
 * would be cheaper to poll, but a connection can set it back after a change; reading the rows costs a few
 * tens of microseconds per batch and cannot be fooled that way.
 */
function sqliteRowsQuery(db: Kysely<any>, tables: ReadonlyArray<string>): CompiledQuery<SchemaRow> {
  const list = sql.join(tables.map((t) => sql.lit(t)));
  return sql<SchemaRow>`
    select 'main' as schema, type, name, tbl_name, sql from main.sqlite_master where lower(tbl_name) in (${list}) or lower(name) in (${list})
    union all
    select 'temp' as schema, type, name, tbl_name, sql from temp.sqlite_master where lower(tbl_name) in (${list}) or lower(name) in (${list})`.compile(db);
}

async function sqliteComparison(db: Kysely<any>, tables: ReadonlyArray<string>): Promise<Comparison> {
  const query = sqliteRowsQuery(db, tables);
  const scratch = createDatabase<unknown>({ url: ':memory:' });
  let expected: Map<string, SchemaRow>;
  try {
    await migrateToLatest(scratch, MIGRATIONS);
    expected = new Map((await scratch.executeQuery(query)).rows.map((row) => [`${row.type} ${row.name}`, row]));
  } finally {
    await scratch.destroy();
  }
  return async (conn) => {
    const differences: SchemaDifference[] = [];
    const seen = new Set<string>();
    for (const row of (await conn.executeQuery(query)).rows) {
      if (row.schema === 'temp') {
        differences.push({ type: row.type, name: `temp.${row.name}`, problem: 'unexpected' });
        continue;
      }
      const key = `${row.type} ${row.name}`;
      seen.add(key);
      const want = expected.get(key);
      if (want === undefined) differences.push({ type: row.type, name: row.name, problem: 'unexpected' });
      else if (want.sql !== row.sql || want.tbl_name !== row.tbl_name) differences.push({ type: row.type, name: row.name, problem: 'altered' });
    }
    for (const [key, want] of expected) if (!seen.has(key)) differences.push({ type: want.type, name: want.name, problem: 'missing' });
    return differences;
  };
}

/** tgtype bits (PostgreSQL's trigger.h). */
const TG_ROW = 1;
const TG_BEFORE = 2;
const TG_EVENT = { insert: 4, delete: 8, update: 16, truncate: 32 } as const;

interface PgTableRow {
  readonly name: string;
  readonly oid: number | null;
  readonly relkind: string | null;
  readonly rls: boolean | null;
  readonly rules: number;
  readonly triggers: ReadonlyArray<{ name: string; type: number; enabled: string; when: boolean; columns: number; fn: string }>;
}

async function pgComparison(db: Kysely<any>, tables: ReadonlyArray<string>): Promise<Comparison> {
  const query = sql<PgTableRow>`
    select t.name, t.rel::oid as oid, c.relkind, c.relrowsecurity as rls,
      (select count(*)::int from pg_rewrite r where r.ev_class = t.rel) as rules,
      coalesce((select json_agg(json_build_object('name', g.tgname, 'type', g.tgtype, 'enabled', g.tgenabled,
          'when', g.tgqual is not null, 'columns', coalesce(array_length(g.tgattr::int2[], 1), 0), 'fn', p.proname) order by g.tgname)
        from pg_trigger g join pg_proc p on p.oid = g.tgfoid where g.tgrelid = t.rel and not g.tgisinternal), '[]'::json) as triggers
    from (select name, to_regclass(name) as rel from unnest(${[...tables]}::text[]) as name) t
    left join pg_class c on c.oid = t.rel`.compile(db);
  const read = async (conn: Kysely<any>): Promise<Map<string, PgTableRow>> => new Map((await conn.executeQuery(query)).rows.map((row) => [row.name, row]));
  /** The relation each name resolved to when the guard was created; a later check must find the same. */
  const pinned = new Map([...(await read(db))].map(([name, row]) => [name, row.oid]));
  return async (conn) => {
    const differences: SchemaDifference[] = [];
    const found = await read(conn);
    for (const table of tables) {
      const row = found.get(table);
      if (row === undefined || row.oid === null) {
        differences.push({ type: 'table', name: table, problem: 'missing' });
        continue;
      }
      if (row.oid !== pinned.get(table)) differences.push({ type: 'table', name: table, problem: 'replaced' });
      if (row.relkind !== 'r') differences.push({ type: 'table', name: table, problem: 'altered' });
      if (row.rls === true) differences.push({ type: 'row level security', name: table, problem: 'unexpected' });
      if (row.rules > 0) differences.push({ type: 'rule', name: table, problem: 'unexpected' });
      const actual = new Map(row.triggers.map((trigger) => [trigger.name, trigger]));
      for (const want of PG_TRIGGERS[table]!) {
        const got = actual.get(want.name);
        actual.delete(want.name);
        if (got === undefined) {
          differences.push({ type: 'trigger', name: want.name, problem: 'missing' });
          continue;
        }
        const type = TG_BEFORE | TG_EVENT[want.event] | (want.level === 'row' ? TG_ROW : 0);
        if (got.type !== type || got.when || got.columns !== 0 || got.fn !== want.fn) differences.push({ type: 'trigger', name: want.name, problem: 'altered' });
        // 'O' fires in the normal (origin) replication role, 'A' always; 'D' never, 'R' only on replicas.
        else if (got.enabled !== 'O' && got.enabled !== 'A') differences.push({ type: 'trigger', name: want.name, problem: 'disabled' });
      }
      for (const name of actual.keys()) differences.push({ type: 'trigger', name, problem: 'unexpected' });
    }
    return differences;
  };
}
