// createSchemaGuard on SQLite: any connection may drop a trigger there, so the guard compares the stored
// schema of the guarded tables with what the migrations create, and keeps refusing once it found a change.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql, type Kysely } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { SchemaAlteredError, createDatabase, createSchemaGuard, migrateToLatest, type SchemaDifference } from '../src/index.ts';

const LEDGER = ['ledger_entries', 'ledger_checkpoints'];
const open: Array<Kysely<any>> = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const db of open.splice(0)) await db.destroy();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A migrated file database, the guarded connection, and a second connection on it (the attacker's). */
async function setup(): Promise<{ db: Kysely<any>; other: Kysely<any> }> {
  const dir = mkdtempSync(join(tmpdir(), 'covenant-schema-'));
  dirs.push(dir);
  const url = join(dir, 'covenant.db');
  const db = createDatabase<any>({ url });
  open.push(db);
  await migrateToLatest(db);
  const other = createDatabase<any>({ url });
  open.push(other);
  return { db, other };
}

async function triggerSql(db: Kysely<any>, name: string): Promise<string> {
  const { rows } = await sql<{ sql: string }>`select sql from sqlite_master where type = 'trigger' and name = ${name}`.execute(db);
  return rows[0]!.sql;
}

async function differences(promise: Promise<unknown>): Promise<ReadonlyArray<SchemaDifference>> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(SchemaAlteredError);
  expect(error).toMatchObject({ name: 'SchemaAlteredError', code: 'ERR_DB_SCHEMA_ALTERED' });
  return (error as SchemaAlteredError).differences;
}

describe('createSchemaGuard (SQLite)', () => {
  it('passes on a migrated database, and keeps passing while nothing changes', async () => {
    const { db } = await setup();
    const guard = await createSchemaGuard(db, LEDGER);
    for (let i = 0; i < 3; i += 1) await expect(guard.check(db)).resolves.toBeUndefined();
    // Objects on other tables are none of its business.
    await sql`drop trigger rbac_changes_no_delete`.execute(db);
    await expect(guard.check(db)).resolves.toBeUndefined();
  });

  it.each(([
    {
      attack: 'a dropped trigger',
      run: (db: Kysely<any>) => sql`drop trigger ledger_entries_no_delete`.execute(db),
      found: [{ type: 'trigger', name: 'ledger_entries_no_delete', problem: 'missing' }],
    },
    {
      attack: 'a trigger replaced by a no-op of the same name',
      run: async (db: Kysely<any>) => {
        await sql`drop trigger ledger_entries_no_update`.execute(db);
        await sql`create trigger ledger_entries_no_update before update on ledger_entries begin select 1; end`.execute(db);
      },
      found: [{ type: 'trigger', name: 'ledger_entries_no_update', problem: 'altered' }],
    },
    {
      attack: 'an extra trigger that silently drops inserts',
      run: (db: Kysely<any>) => sql`create trigger swallow before insert on ledger_checkpoints begin select raise(ignore); end`.execute(db),
      found: [{ type: 'trigger', name: 'swallow', problem: 'unexpected' }],
    },
    {
      attack: 'the table dropped and recreated with its rows, without its triggers and index',
      run: async (db: Kysely<any>) => {
        const { rows } = await sql<{ sql: string }>`select sql from sqlite_master where type = 'table' and name = 'ledger_entries'`.execute(db);
        await sql`alter table ledger_entries rename to old_entries`.execute(db);
        await sql.raw(rows[0]!.sql).execute(db);
        await sql`insert into ledger_entries select * from old_entries`.execute(db);
        await sql`drop table old_entries`.execute(db);
      },
      found: [
        { type: 'index', name: 'ledger_entries_request', problem: 'missing' },
        // The checkpoints' insert check counts ledger_entries: SQLite rewrote it to the renamed table.
        { type: 'trigger', name: 'ledger_checkpoints_no_replace', problem: 'altered' },
        { type: 'trigger', name: 'ledger_entries_no_delete', problem: 'missing' },
        { type: 'trigger', name: 'ledger_entries_no_replace', problem: 'missing' },
        { type: 'trigger', name: 'ledger_entries_no_update', problem: 'missing' },
      ],
    },
    {
      attack: 'the table replaced by a view of the same name',
      run: async (db: Kysely<any>) => {
        await sql`drop table ledger_checkpoints`.execute(db);
        await sql`create view ledger_checkpoints as select 0 as size, x'00' as root, '' as note, '' as at`.execute(db);
      },
      found: [
        { type: 'table', name: 'ledger_checkpoints', problem: 'missing' },
        { type: 'trigger', name: 'ledger_checkpoints_no_delete', problem: 'missing' },
        { type: 'trigger', name: 'ledger_checkpoints_no_replace', problem: 'missing' },
        { type: 'trigger', name: 'ledger_checkpoints_no_update', problem: 'missing' },
        { type: 'view', name: 'ledger_checkpoints', problem: 'unexpected' },
      ],
    },
    {
      attack: 'a dropped trigger, with PRAGMA schema_version set back to hide the change',
      run: async (db: Kysely<any>) => {
        const { rows } = await sql<{ schema_version: number }>`pragma schema_version`.execute(db);
        await sql`drop trigger ledger_checkpoints_no_delete`.execute(db);
        await sql.raw(`pragma schema_version = ${rows[0]!.schema_version}`).execute(db);
      },
      found: [{ type: 'trigger', name: 'ledger_checkpoints_no_delete', problem: 'missing' }],
    },
  ] satisfies Array<{ attack: string; run: (db: Kysely<any>) => Promise<unknown>; found: SchemaDifference[] }>).map((c) => [c.attack, c] as const))(
    'finds %s, made through another connection after the guard was created, and names it',
    async (_attack, { run, found }) => {
    const { db, other } = await setup();
    const guard = await createSchemaGuard(db, LEDGER);
    await run(other);
    const diff = await differences(guard.check(db));
    expect([...diff].sort((a, b) => `${a.type} ${a.name}`.localeCompare(`${b.type} ${b.name}`))).toEqual(found);
    // And a guard created afterwards refuses at once.
    expect(await differences(createSchemaGuard(db, LEDGER))).toEqual(diff);
    },
  );

  it('finds objects of the connection\'s temp schema on (or shadowing) a guarded table', async () => {
    const { db } = await setup();
    const guard = await createSchemaGuard(db, LEDGER);
    // A temporary table of the same name comes first for unqualified names on this connection.
    await sql`create temp table ledger_entries (seq integer primary key, body blob, leaf_hash blob, kind text, request_id text, at text)`.execute(db);
    expect(await differences(guard.check(db))).toEqual([{ type: 'table', name: 'temp.ledger_entries', problem: 'unexpected' }]);
    await sql`drop table temp.ledger_entries`.execute(db);
    const fresh = await createSchemaGuard(db, LEDGER);
    await sql`create temp trigger swallow before insert on main.ledger_entries begin select raise(ignore); end`.execute(db);
    expect(await differences(fresh.check(db))).toEqual([{ type: 'trigger', name: 'temp.swallow', problem: 'unexpected' }]);
  });

  it('once it has refused, refuses every later check, even after the schema was put back', async () => {
    const { db, other } = await setup();
    const guard = await createSchemaGuard(db, LEDGER);
    const original = await triggerSql(db, 'ledger_entries_no_delete');
    await sql`drop trigger ledger_entries_no_delete`.execute(other);
    const first = await guard.check(db).catch((e: unknown) => e);
    expect(first).toBeInstanceOf(SchemaAlteredError);
    await sql.raw(original).execute(other);
    await expect(guard.check(db)).rejects.toBe(first);
    // Put back exactly, the schema passes a new guard (what a restart does).
    await expect(createSchemaGuard(db, LEDGER).then((g) => g.check(db))).resolves.toBeUndefined();
  });

  it('a change inside a transaction is seen by a check in that transaction, and rolled back with it', async () => {
    const { db } = await setup();
    const guard = await createSchemaGuard(db, LEDGER);
    const seen = await db
      .transaction()
      .execute(async (trx) => {
        await sql`drop trigger ledger_checkpoints_no_update`.execute(trx);
        await guard.check(trx);
      })
      .catch((e: unknown) => e);
    expect(seen).toBeInstanceOf(SchemaAlteredError);
    await expect(triggerSql(db, 'ledger_checkpoints_no_update')).resolves.toContain('ledger_checkpoints is append-only');
  });

  it('refuses misuse with TypeError', async () => {
    const { db } = await setup();
    for (const tables of [[], ['ledger entries'], [''], 'ledger_entries', [1]]) {
      await expect(createSchemaGuard(db, tables as never)).rejects.toBeInstanceOf(TypeError);
    }
  });
});
