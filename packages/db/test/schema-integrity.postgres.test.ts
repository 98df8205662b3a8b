// createSchemaGuard on PostgreSQL: the serving role cannot change the triggers (serving-role.postgres.test.ts),
// but an owner can, by mistake or on purpose; the guard finds every way a trigger stops firing. Runs when
// COVENANT_TEST_PG is set, each test in a schema of its own.
import { postgresSchemasPerTest, postgresTestUrl } from '@covenant/testkit/postgres';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { SchemaAlteredError, createSchemaGuard } from '../src/index.ts';

const baseUrl = postgresTestUrl();
const LEDGER = ['ledger_entries', 'ledger_checkpoints'];

const { migrated: setup } = postgresSchemasPerTest(baseUrl);

describe.skipIf(baseUrl === undefined)('createSchemaGuard (PostgreSQL)', () => {
  it('passes on a migrated database, for the serving role and the owner, and for rbac_changes too', async () => {
    const { owner, serving } = await setup();
    for (const db of [serving, owner]) {
      const guard = await createSchemaGuard(db, [...LEDGER, 'rbac_changes']);
      await expect(guard.check(db)).resolves.toBeUndefined();
    }
    await expect(createSchemaGuard(serving, ['helpdesk_tickets'])).rejects.toThrow(/no PostgreSQL expectation for helpdesk_tickets/);
  });

  it.each([
    ['ALTER TABLE … DISABLE TRIGGER ALL', ['alter table ledger_entries disable trigger all'], ['ledger_entries_no_delete disabled', 'ledger_entries_no_replace disabled', 'ledger_entries_no_truncate disabled', 'ledger_entries_no_update disabled']],
    ['a trigger left to fire on replicas only', ['alter table ledger_checkpoints enable replica trigger ledger_checkpoints_no_delete'], ['ledger_checkpoints_no_delete disabled']],
    ['a dropped trigger', ['drop trigger ledger_entries_no_truncate on ledger_entries'], ['ledger_entries_no_truncate missing']],
    [
      'a trigger recreated with WHEN (false)',
      ['drop trigger ledger_entries_no_delete on ledger_entries', 'create trigger ledger_entries_no_delete before delete on ledger_entries for each row when (false) execute function covenant_refuse_change()'],
      ['ledger_entries_no_delete altered'],
    ],
    [
      'a trigger recreated AFTER instead of BEFORE',
      ['drop trigger ledger_entries_no_update on ledger_entries', 'create trigger ledger_entries_no_update after update on ledger_entries for each row execute function covenant_refuse_change()'],
      ['ledger_entries_no_update altered'],
    ],
    [
      'a trigger recreated on one column only',
      ['drop trigger ledger_entries_no_update on ledger_entries', 'create trigger ledger_entries_no_update before update of kind on ledger_entries for each row execute function covenant_refuse_change()'],
      ['ledger_entries_no_update altered'],
    ],
    [
      'a trigger recreated on a function that does nothing',
      [
        "create function let_it_be() returns trigger language plpgsql as $$ begin return old; end $$",
        'drop trigger ledger_checkpoints_no_delete on ledger_checkpoints',
        'create trigger ledger_checkpoints_no_delete before delete on ledger_checkpoints for each row execute function let_it_be()',
      ],
      ['ledger_checkpoints_no_delete altered'],
    ],
    ['an extra trigger', ['create trigger extra before insert on ledger_entries for each row execute function covenant_refuse_change()'], ['extra unexpected']],
    ['a rule that swallows inserts', ['create rule swallow as on insert to ledger_entries do instead nothing'], ['swallow-rule']],
    ['row-level security hiding rows', ['alter table ledger_entries enable row level security'], ['rls']],
  ] as Array<[string, string[], string[]]>)('finds %s, and names it', async (_attack, statements, found) => {
    const { owner, serving } = await setup();
    const guard = await createSchemaGuard(serving, LEDGER);
    for (const statement of statements) await sql.raw(statement).execute(owner);
    const error = await guard.check(serving).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SchemaAlteredError);
    const names = (error as SchemaAlteredError).differences.map((d) =>
      d.type === 'rule' ? `${statements[0]!.split(' ')[2]}-rule` : d.type === 'row level security' ? 'rls' : `${d.name} ${d.problem}`,
    );
    expect(names.sort()).toEqual(found);
    expect((error as Error).message).toMatch(/^the schema of ledger_entries, ledger_checkpoints differs from what the migrations create: /);
    // Sticky: it keeps refusing.
    await expect(guard.check(serving)).rejects.toBe(error);
  });

  it('finds a table dropped and recreated identically (triggers and all): the name resolves to another relation', async () => {
    const { owner, serving } = await setup();
    const guard = await createSchemaGuard(serving, LEDGER);
    const { rows } = await sql<{ def: string }>`select pg_get_triggerdef(t.oid) as def from pg_trigger t where t.tgrelid = 'ledger_checkpoints'::regclass and not t.tgisinternal`.execute(owner);
    await sql`create table cp_copy as select * from ledger_checkpoints`.execute(owner);
    await sql`drop table ledger_checkpoints`.execute(owner);
    await sql`create table ledger_checkpoints (size bigint primary key, root bytea not null, note text collate "C" not null, at text collate "C" not null)`.execute(owner);
    for (const { def } of rows) await sql.raw(def).execute(owner);
    await sql`insert into ledger_checkpoints select * from cp_copy`.execute(owner);
    await sql`grant select, insert on ledger_checkpoints to covenant_service`.execute(owner);
    await expect(guard.check(serving)).rejects.toMatchObject({ differences: [{ type: 'table', name: 'ledger_checkpoints', problem: 'replaced' }] });
  });

  it('finds a ledger table shadowed for one connection (a temporary table, or another schema first on its search path)', async () => {
    const { schema, owner } = await setup();
    // The owner's connection here: the serving role may create neither (serving-role.postgres.test.ts).
    const guard = await createSchemaGuard(owner, LEDGER);
    await owner.connection().execute(async (conn) => {
      await sql`create temporary table ledger_entries (like ledger_entries)`.execute(conn);
      const error = await guard.check(conn).catch((e: unknown) => e);
      // The temporary table has no triggers either.
      expect((error as SchemaAlteredError).differences).toEqual(
        expect.arrayContaining([
          { type: 'table', name: 'ledger_entries', problem: 'replaced' },
          { type: 'trigger', name: 'ledger_entries_no_delete', problem: 'missing' },
        ]),
      );
      await sql`drop table pg_temp.ledger_entries`.execute(conn);
    });
    const other = await createSchemaGuard(owner, LEDGER);
    await sql.raw(`create schema ${schema.schema}_shadow`).execute(owner);
    try {
      await sql.raw(`create table ${schema.schema}_shadow.ledger_checkpoints (like ${schema.schema}.ledger_checkpoints)`).execute(owner);
      await owner.connection().execute(async (conn) => {
        await sql.raw(`set search_path = ${schema.schema}_shadow, ${schema.schema}`).execute(conn);
        const error = await other.check(conn).catch((e: unknown) => e);
        await sql.raw(`set search_path = ${schema.schema}`).execute(conn);
        expect(error).toMatchObject({ code: 'ERR_DB_SCHEMA_ALTERED' });
        expect((error as SchemaAlteredError).differences).toEqual(
          expect.arrayContaining([
            { type: 'table', name: 'ledger_checkpoints', problem: 'replaced' },
            { type: 'trigger', name: 'ledger_checkpoints_no_delete', problem: 'missing' },
          ]),
        );
      });
    } finally {
      await sql.raw(`drop schema ${schema.schema}_shadow cascade`).execute(owner);
    }
  });

  it('refuses to start on a missing table', async () => {
    const { owner, serving } = await setup();
    await sql`drop table ledger_checkpoints`.execute(owner);
    await expect(createSchemaGuard(serving, LEDGER)).rejects.toMatchObject({ differences: [{ type: 'table', name: 'ledger_checkpoints', problem: 'missing' }] });
  });
});
