// The factory and the migrations on PostgreSQL. Runs when COVENANT_TEST_PG is set (see @covenant/testkit/postgres);
// each test works in a schema of its own, dropped afterwards.
import { postgresSchemasPerTest, postgresTestUrl } from '@covenant/testkit/postgres';
import { sql, type Kysely, type Migration } from 'kysely';
import { describe, expect, it } from 'vitest';
import { MIGRATIONS, MigrationError, dialectOf, isAppMigration, migrateToLatest, withSavepoint } from '../src/index.ts';

const baseUrl = postgresTestUrl();

const schemas = postgresSchemasPerTest(baseUrl);
const { connect } = schemas;

async function scratch(): Promise<{ url: string; schema: string; db: Kysely<any> }> {
  const database = await schemas.scratch();
  return { url: database.url, schema: database.schema, db: connect(database.url) };
}

async function tables(db: Kysely<any>, schema: string): Promise<string[]> {
  const { rows } = await sql<{ name: string }>`select table_name as name from information_schema.tables
    where table_schema = ${schema} order by table_name`.execute(db);
  return rows.map((row) => row.name);
}

async function triggers(db: Kysely<any>, schema: string): Promise<string[]> {
  const { rows } = await sql<{ name: string }>`select distinct t.tgname as name from pg_trigger t
    join pg_class c on c.oid = t.tgrelid join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = ${schema} and not t.tgisinternal order by 1`.execute(db);
  return rows.map((row) => row.name);
}

const entry = (seq: number) => ({ seq, body: new Uint8Array([seq, 1]), leaf_hash: new Uint8Array(32).fill(seq), kind: 'intent', request_id: `r${seq}`, at: 'x' });

describe.skipIf(baseUrl === undefined)('PostgreSQL: createDatabase', () => {
  it('a checked-out connection killed by the server fails its query, and neither crashes the process nor poisons the pool', async () => {
    const { db, url } = await scratch();
    const killer = connect(url);
    const error = await db
      .connection()
      .execute(async (conn) => {
        const { rows } = await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(conn);
        await sql`select pg_terminate_backend(${rows[0]!.pid})`.execute(killer);
        return sql`select 1`.execute(conn);
      })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    // The process is still here (an unhandled 'error' on the client would have ended it). The pool drops
    // the dead connection: a query may still meet it once (the reset can arrive after it was returned),
    // and then the pool works again.
    const attempts: Array<'ok' | 'failed'> = [];
    for (let i = 0; i < 3 && attempts.at(-1) !== 'ok'; i += 1) {
      attempts.push(await sql`select 1`.execute(db).then(() => 'ok' as const, () => 'failed' as const));
    }
    expect(attempts.at(-1)).toBe('ok');
    expect(attempts.length).toBeLessThanOrEqual(2);
  });

  it('returns a kysely on a pg pool that works in the schema of the connection string', async () => {
    const { db, schema } = await scratch();
    expect(dialectOf(db)).toBe('postgres');
    await db.transaction().execute(async (trx) => expect(dialectOf(trx)).toBe('postgres'));
    const { rows } = await sql<{ path: string }>`select current_setting('search_path') as path`.execute(db);
    expect(rows[0]?.path).toBe(schema);
  });

  it('reads bigint as a number and bytea as a plain Uint8Array (not a Buffer), as SQLite does', async () => {
    const { db } = await scratch();
    const { rows } = await sql<{ n: unknown; b: unknown; c: unknown }>`select 9007199254740991::bigint as n, '\\x00ff10'::bytea as b, count(*) as c from (values (1), (2)) v`.execute(db);
    expect(rows[0]?.n).toBe(Number.MAX_SAFE_INTEGER);
    expect(rows[0]?.c).toBe(2);
    expect(rows[0]?.b).toEqual(new Uint8Array([0, 255, 16]));
    expect(Object.getPrototypeOf(rows[0]?.b)).toBe(Uint8Array.prototype);
  });

  it('refuses a bigint beyond the safe integers instead of rounding it', async () => {
    const { db } = await scratch();
    await expect(sql`select 9007199254740993::bigint as n`.execute(db)).rejects.toThrow(/MAX_SAFE_INTEGER/);
  });

  it('savepoints work inside a PostgreSQL transaction: a failed unit is undone, the transaction goes on', async () => {
    const { db } = await scratch();
    await sql`create table notes (id integer primary key)`.execute(db);
    await db.transaction().execute(async (trx) => {
      await trx.insertInto('notes').values({ id: 1 }).execute();
      // A failing statement aborts a PostgreSQL transaction; the savepoint rollback recovers it.
      await expect(withSavepoint(trx, async (sp) => sp.insertInto('notes').values({ id: 1 }).execute())).rejects.toThrow(/duplicate key/);
      await trx.insertInto('notes').values({ id: 2 }).execute();
    });
    expect((await db.selectFrom('notes').select('id').orderBy('id').execute()).map((r) => r.id)).toEqual([1, 2]);
  });
});

describe.skipIf(baseUrl === undefined)('PostgreSQL: migrateToLatest', () => {
  it('creates every table and the append-only triggers, and does nothing the second time', async () => {
    const { db, schema } = await scratch();
    expect(await migrateToLatest(db)).toEqual(['0001-rbac', '0002-ledger', '0003-revocations', '0004-service-role', '0005-ledger-checkpoint-covers-log']);
    expect(await tables(db, schema)).toEqual([
      'covenant_migrations',
      'identity_revocations',
      'ledger_checkpoints',
      'ledger_entries',
      'rbac_bindings',
      'rbac_capabilities',
      'rbac_changes',
      'rbac_epochs',
      'rbac_role_capabilities',
      'rbac_roles',
    ]);
    expect(await triggers(db, schema)).toEqual([
      'ledger_checkpoints_no_delete',
      'ledger_checkpoints_no_replace',
      'ledger_checkpoints_no_truncate',
      'ledger_checkpoints_no_update',
      'ledger_entries_no_delete',
      'ledger_entries_no_replace',
      'ledger_entries_no_truncate',
      'ledger_entries_no_update',
      'rbac_changes_no_delete',
      'rbac_changes_no_truncate',
      'rbac_changes_no_update',
    ]);
    expect(await migrateToLatest(db)).toEqual([]);
    expect((await db.selectFrom('covenant_migrations').select('name').orderBy('name').execute()).map((r) => r.name)).toEqual(['0001-rbac', '0002-ledger', '0003-revocations', '0004-service-role', '0005-ledger-checkpoint-covers-log']);
  });

  it('uses bytea for blobs, bigint for integers, and bytewise ("C") collation for text', async () => {
    const { db, schema } = await scratch();
    await migrateToLatest(db);
    const { rows } = await sql<{ table_name: string; column_name: string; data_type: string; collation_name: string | null }>`
      select table_name, column_name, data_type, collation_name from information_schema.columns
      where table_schema = ${schema} and table_name in ('ledger_entries', 'rbac_changes') and column_name in ('seq', 'body', 'kind', 'org')
      order by table_name, column_name`.execute(db);
    expect(rows).toEqual([
      { table_name: 'ledger_entries', column_name: 'body', data_type: 'bytea', collation_name: null },
      { table_name: 'ledger_entries', column_name: 'kind', data_type: 'text', collation_name: 'C' },
      { table_name: 'ledger_entries', column_name: 'seq', data_type: 'bigint', collation_name: null },
      { table_name: 'rbac_changes', column_name: 'org', data_type: 'text', collation_name: 'C' },
      { table_name: 'rbac_changes', column_name: 'seq', data_type: 'bigint', collation_name: null },
    ]);
    await db.insertInto('rbac_capabilities').values([{ name: 'a.read', source: 'registered' }, { name: 'B.read', source: 'registered' }]).execute();
    // Bytewise, like SQLite: upper case sorts before lower case whatever the server's locale.
    expect((await db.selectFrom('rbac_capabilities').select('name').orderBy('name').execute()).map((r) => r.name)).toEqual(['B.read', 'a.read']);
  });

  it('ledger tables refuse UPDATE, DELETE and TRUNCATE, gaps and re-used sequence numbers', async () => {
    const { db } = await scratch();
    await migrateToLatest(db);
    await db.insertInto('ledger_entries').values([entry(0), entry(1), entry(2)]).execute();
    await expect(db.updateTable('ledger_entries').set({ kind: 'outcome' }).where('seq', '=', 1).execute()).rejects.toThrow('ledger_entries is append-only');
    await expect(db.deleteFrom('ledger_entries').where('seq', '=', 2).execute()).rejects.toThrow('ledger_entries is append-only');
    await expect(sql`truncate ledger_entries`.execute(db)).rejects.toThrow('ledger_entries is append-only');
    await expect(db.insertInto('ledger_entries').values(entry(4)).execute()).rejects.toThrow('ledger_entries is append-only and gap-free');
    await expect(db.insertInto('ledger_entries').values(entry(1)).execute()).rejects.toThrow('ledger_entries is append-only and gap-free');
    // An upsert is an UPDATE: refused by the same trigger.
    await expect(
      db.insertInto('ledger_entries').values(entry(3)).onConflict((oc) => oc.column('seq').doNothing()).execute().then(() =>
        db.insertInto('ledger_entries').values(entry(3)).onConflict((oc) => oc.column('seq').doUpdateSet({ kind: 'x' })).execute(),
      ),
    ).rejects.toThrow(/append-only/);
    expect((await db.selectFrom('ledger_entries').select(['seq', 'kind']).orderBy('seq').execute())).toEqual([
      { seq: 0, kind: 'intent' },
      { seq: 1, kind: 'intent' },
      { seq: 2, kind: 'intent' },
      { seq: 3, kind: 'intent' },
    ]);
    const row = await db.selectFrom('ledger_entries').select(['body']).where('seq', '=', 2).executeTakeFirstOrThrow();
    expect(row.body).toEqual(new Uint8Array([2, 1]));
  });

  it('checkpoints must grow, cover exactly the entries of the log, and are append-only', async () => {
    const { db } = await scratch();
    await migrateToLatest(db);
    const checkpoint = (size: number) => ({ size, root: new Uint8Array(32), note: `n${size}`, at: 'x' });
    const entriesUpTo = async (size: number) => {
      const have = (await db.selectFrom('ledger_entries').select('seq').execute()).length;
      for (let seq = have; seq < size; seq += 1) {
        await db.insertInto('ledger_entries').values({ seq, body: new Uint8Array(1), leaf_hash: new Uint8Array(32), kind: 'event', request_id: null, at: 'x' }).execute();
      }
    };
    const refusal = 'ledger_checkpoints is append-only, grows, and covers exactly the entries of the log';
    // A checkpoint of a size the log does not hold (more or fewer entries) is refused.
    await entriesUpTo(2);
    await expect(db.insertInto('ledger_checkpoints').values(checkpoint(3)).execute()).rejects.toThrow(refusal);
    await expect(db.insertInto('ledger_checkpoints').values(checkpoint(1)).execute()).rejects.toThrow(refusal);
    await entriesUpTo(3);
    await db.insertInto('ledger_checkpoints').values(checkpoint(3)).execute();
    await expect(db.insertInto('ledger_checkpoints').values(checkpoint(3)).execute()).rejects.toThrow(refusal);
    await expect(db.insertInto('ledger_checkpoints').values(checkpoint(2)).execute()).rejects.toThrow(refusal);
    await entriesUpTo(5);
    await db.insertInto('ledger_checkpoints').values(checkpoint(5)).execute();
    await expect(db.updateTable('ledger_checkpoints').set({ note: 'forged' }).execute()).rejects.toThrow('ledger_checkpoints is append-only');
    await expect(db.deleteFrom('ledger_checkpoints').execute()).rejects.toThrow('ledger_checkpoints is append-only');
    expect((await db.selectFrom('ledger_checkpoints').select('size').orderBy('size').execute()).map((r) => r.size)).toEqual([3, 5]);
  });

  it('rbac_changes numbers its rows itself and refuses UPDATE, DELETE, TRUNCATE and a chosen seq', async () => {
    const { db } = await scratch();
    await migrateToLatest(db);
    const change = { org: 'acme', actor: 'op', action: 'role.create', outcome: 'applied', reason: 'r', at: 'x' };
    await db.insertInto('rbac_changes').values([change, change]).execute();
    expect((await db.selectFrom('rbac_changes').select('seq').orderBy('seq').execute()).map((r) => r.seq)).toEqual([1, 2]);
    await expect(db.updateTable('rbac_changes').set({ outcome: 'refused' }).execute()).rejects.toThrow('rbac_changes is append-only');
    await expect(db.deleteFrom('rbac_changes').execute()).rejects.toThrow('rbac_changes is append-only');
    await expect(sql`truncate rbac_changes`.execute(db)).rejects.toThrow('rbac_changes is append-only');
    await expect(db.insertInto('rbac_changes').values({ ...change, seq: 1 }).execute()).rejects.toThrow(/GENERATED ALWAYS|cannot insert/i);
    expect(await db.selectFrom('rbac_changes').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).toEqual({ n: 2 });
  });

  it('refuses a database migrated by a newer build; ignoreUnknown lets an application migration through', async () => {
    const { db } = await scratch();
    await migrateToLatest(db);
    await db.insertInto('covenant_migrations').values({ name: '1001-helpdesk', applied_at: new Date(0).toISOString() }).execute();
    await expect(migrateToLatest(db)).rejects.toThrow(/1001-helpdesk/);
    await expect(migrateToLatest(db, MIGRATIONS, { ignoreUnknown: isAppMigration })).resolves.toEqual([]);
    await db.insertInto('covenant_migrations').values({ name: '0003-future', applied_at: new Date(0).toISOString() }).execute();
    const error = await migrateToLatest(db, MIGRATIONS, { ignoreUnknown: isAppMigration }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MigrationError);
    expect((error as Error).message).toContain('0003-future');
  });

  it('rolls a failing migration back completely (DDL included) and releases the lock, so a retry starts clean', async () => {
    const { db, schema } = await scratch();
    const broken: Migration = {
      async up(trx) {
        await trx.schema.createTable('half_done').addColumn('id', 'integer').execute();
        throw new Error('boom');
      },
    };
    const error = await migrateToLatest(db, { ...MIGRATIONS, '0003-broken': broken }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MigrationError);
    expect((error as Error).cause).toMatchObject({ message: 'boom' });
    expect(await tables(db, schema)).toEqual([]);
    expect(await migrateToLatest(db)).toEqual(['0001-rbac', '0002-ledger', '0003-revocations', '0004-service-role', '0005-ledger-checkpoint-covers-log']);
  });

  it('serialises two migrators on separate pools: one runs everything, the other waits and finds it done', async () => {
    const { url, db: first } = await scratch();
    const second = connect(url);
    let entered = 0;
    let overlapped = false;
    const slow: Migration = {
      async up(trx) {
        entered += 1;
        if (entered > 1) overlapped = true;
        await trx.schema.createTable('slow_marker').addColumn('id', 'integer').execute();
        // Holds the lock for a while, so that the other migrator surely arrives while it is held.
        await sql`select pg_sleep(0.3)`.execute(trx);
        entered -= 1;
      },
    };
    const migrations = { ...MIGRATIONS, '0003-slow': slow };
    const results = await Promise.all([migrateToLatest(first, migrations), migrateToLatest(second, migrations)]);
    expect(results.flat().sort()).toEqual(['0001-rbac', '0002-ledger', '0003-revocations', '0003-slow', '0004-service-role', '0005-ledger-checkpoint-covers-log']);
    expect(results.filter((ran) => ran.length === 0)).toHaveLength(1);
    expect(overlapped).toBe(false);
  });
});
