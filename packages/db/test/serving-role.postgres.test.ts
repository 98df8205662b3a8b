// The two roles on PostgreSQL (ADR 0013): migrations run as the owner of the tables, the service serves as a
// member of covenant_service (migration 0004-service-role), which PostgreSQL itself stops from changing what
// it only appends to; assertServingRole refuses to serve through anything more. Runs when COVENANT_TEST_PG
// is set; each test works in a schema of its own and drops the roles it made (roles are cluster-wide).
import { randomBytes } from 'node:crypto';
import { postgresSchemasPerTest, postgresTestUrl, type PostgresTestDatabase } from '@covenant/testkit/postgres';
import { sql, type Kysely } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import {
  MissingPrivilegeError,
  PrivilegedRoleError,
  SERVICE_ROLE,
  assertServingRole,
  createDatabase,
  migrateToLatest,
  pendingMigrations,
  type RoleFinding,
} from '../src/index.ts';

const baseUrl = postgresTestUrl();

const roles: string[] = [];
// Registered first, so it runs last (after-hooks run as a stack): once every connection is closed and every schema dropped.
afterEach(async () => {
  if (roles.length === 0 || baseUrl === undefined) return;
  const admin = createDatabase<any>({ url: baseUrl });
  try {
    for (const role of roles.splice(0)) {
      await sql.raw(`drop owned by ${role}`).execute(admin);
      await sql.raw(`drop role ${role}`).execute(admin);
    }
  } finally {
    await admin.destroy();
  }
});
/** Fresh schemas migrated by their owner (the test superuser), with `owner` and `serving` connections. */
const schemas = postgresSchemasPerTest(baseUrl);
const { connect, migrated } = schemas;

/** A LOGIN role of this test's (dropped afterwards), set up by `statements` (`%` stands for its name); its URL on `schema`. */
async function role(schema: PostgresTestDatabase, owner: Kysely<any>, statements: ReadonlyArray<string>): Promise<{ name: string; url: string }> {
  const name = `${schema.schema}_r${roles.length}`;
  const password = randomBytes(12).toString('hex');
  roles.push(name);
  await sql.raw(`create role ${name} login password '${password}'`).execute(owner);
  for (const statement of statements) await sql.raw(statement.replaceAll('%', name)).execute(owner);
  const url = new URL(schema.url);
  url.username = name;
  url.password = password;
  return { name, url: url.toString() };
}

const LEDGER = { appendOnly: ['ledger_entries', 'ledger_checkpoints'] } as const;
const entry = (seq: number) => ({ seq, body: new Uint8Array([seq]), leaf_hash: new Uint8Array(32).fill(seq), kind: 'intent', request_id: `r${seq}`, at: 'x' });

async function refusal(db: Kysely<any>, statement: string): Promise<unknown> {
  return sql.raw(statement).execute(db).then(
    () => null,
    (error: unknown) => error,
  );
}

describe.skipIf(baseUrl === undefined)('PostgreSQL: the serving role (0004-service-role)', () => {
  it('the attack: the owner (what the service used to be) disables the triggers and deletes; the serving role is refused by PostgreSQL itself', async () => {
    const { owner, serving } = await migrated();
    await serving.insertInto('ledger_entries').values([entry(0), entry(1)]).execute();
    await serving.insertInto('ledger_checkpoints').values({ size: 2, root: new Uint8Array(32), note: 'n', at: 'x' }).execute();
    await serving.insertInto('rbac_changes').values({ org: 'acme', actor: 'op', action: 'x', outcome: 'applied', reason: 'r', at: 'x' }).execute();
    expect(await serving.selectFrom('ledger_entries').select('seq').orderBy('seq').execute()).toEqual([{ seq: 0 }, { seq: 1 }]);

    const attacks = (table: string) => [
      `alter table ${table} disable trigger all`,
      `alter table ${table} disable trigger user`,
      `delete from ${table}`,
      `truncate ${table}`,
      `drop trigger ${table}_no_delete on ${table}`,
      `update ${table} set at = 'forged'`,
      `alter table ${table} owner to ${SERVICE_ROLE}`,
      `alter table ${table} add column forged text`,
      `create trigger forged before insert on ${table} for each row execute function covenant_refuse_change()`,
      `create rule forged as on insert to ${table} do instead nothing`,
      `drop table ${table}`,
    ];
    for (const table of ['ledger_entries', 'ledger_checkpoints', 'rbac_changes']) {
      for (const attack of attacks(table)) {
        const error = await refusal(serving, attack);
        // 42501 insufficient_privilege: "permission denied for table …" or "must be owner of table …".
        expect({ attack, code: (error as { code?: string } | null)?.code }).toEqual({ attack, code: '42501' });
      }
    }
    // Nothing that could shadow a ledger table either: no temporary tables, no tables of its own.
    for (const attack of ['create temporary table ledger_entries (seq bigint)', 'create table ledger_shadow (seq bigint)', 'create schema shadow']) {
      expect({ attack, code: ((await refusal(serving, attack)) as { code?: string } | null)?.code }).toEqual({ attack, code: '42501' });
    }
    expect((await owner.selectFrom('ledger_entries').select('seq').orderBy('seq').execute()).map((r) => r.seq)).toEqual([0, 1]);
    await expect(assertServingRole(serving, { appendOnly: ['ledger_entries', 'ledger_checkpoints', 'rbac_changes'] })).resolves.toBeUndefined();

    // The owner's own connection (the service before ADR 0013): the triggers are no obstacle to it.
    await sql`alter table ledger_entries disable trigger all`.execute(owner);
    await sql`delete from ledger_entries where seq = 1`.execute(owner);
    expect((await owner.selectFrom('ledger_entries').select('seq').execute()).map((r) => r.seq)).toEqual([0]);
    const error = await assertServingRole(owner, LEDGER).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PrivilegedRoleError);
  });

  it('refuses to serve as a superuser (ERR_DB_ROLE_PRIVILEGED), naming that one finding', async () => {
    const { owner } = await migrated();
    const error = await assertServingRole(owner, LEDGER).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PrivilegedRoleError);
    expect(error).toMatchObject({ code: 'ERR_DB_ROLE_PRIVILEGED', findings: [{ privilege: 'SUPERUSER', on: null }] });
    expect((error as Error).message).toMatch(/holds SUPERUSER: serve as a role that may only SELECT and INSERT/);
  });

  it('refuses every privilege past SELECT and INSERT, held directly, through a group, or through a role it can SET ROLE to', async () => {
    const { schema, owner } = await migrated();
    const cases: Array<{ setup: string[]; finding: Partial<RoleFinding>; policy?: Parameters<typeof assertServingRole>[1] }> = [
      { setup: ['grant update on ledger_entries to %'], finding: { privilege: 'UPDATE', on: 'ledger_entries' } },
      { setup: ['grant update (kind) on ledger_entries to %'], finding: { privilege: 'UPDATE', on: 'ledger_entries' } },
      { setup: ['grant delete on ledger_checkpoints to %'], finding: { privilege: 'DELETE', on: 'ledger_checkpoints' } },
      { setup: ['grant truncate on ledger_entries to %'], finding: { privilege: 'TRUNCATE', on: 'ledger_entries' } },
      { setup: ['grant trigger on ledger_entries to %'], finding: { privilege: 'TRIGGER', on: 'ledger_entries' } },
      { setup: ['grant references (seq) on ledger_entries to %'], finding: { privilege: 'REFERENCES', on: 'ledger_entries' } },
      { setup: ['grant pg_write_all_data to %'], finding: { privilege: 'DELETE', on: 'ledger_entries' } },
      { setup: ['grant temporary on database %db to %'], finding: { privilege: 'TEMPORARY', on: 'database' } },
      { setup: ['grant create on database %db to %'], finding: { privilege: 'CREATE', on: 'database' } },
      { setup: [`grant create on schema ${schema.schema} to %`], finding: { privilege: 'CREATE', on: `schema ${schema.schema}` } },
      { setup: ['alter role % createrole'], finding: { privilege: 'CREATEROLE', on: null } },
      { setup: ['grant set on parameter session_replication_role to %'], finding: { privilege: 'SET', on: 'parameter session_replication_role' } },
      { setup: ['grant pg_execute_server_program to %'], finding: { privilege: 'pg_execute_server_program', on: null } },
      { setup: ['grant pg_write_server_files to %'], finding: { privilege: 'pg_write_server_files', on: null } },
      // An owner that is not a superuser: the tables handed to a group the role belongs to.
      {
        setup: [`create role %_owner nologin`, 'alter table ledger_entries owner to %_owner', 'grant %_owner to %'],
        finding: { privilege: 'OWNER', on: 'ledger_entries' },
      },
      // NOINHERIT: the privilege is not the role's own, but SET ROLE reaches it.
      {
        setup: ['alter role % noinherit', `grant usage on schema ${schema.schema} to %`, 'grant select, insert on ledger_entries, ledger_checkpoints to %', 'create role %_x nologin', 'grant update on ledger_checkpoints to %_x', 'grant %_x to %'],
        finding: { privilege: 'UPDATE', on: 'ledger_checkpoints' },
      },
      { setup: ['alter role % bypassrls'], finding: { privilege: 'BYPASSRLS', on: null }, policy: { rowLevelSecurity: ['rbac_bindings'] } },
    ];
    const database = (await sql<{ name: string }>`select current_database() as name`.execute(owner)).rows[0]!.name;
    for (const [i, { setup, finding, policy }] of cases.entries()) {
      const r = await role(schema, owner, [`grant ${SERVICE_ROLE} to %`, ...setup.map((s) => s.replaceAll('%db', database))]);
      // Helper roles `<role>_owner` / `<role>_x` are dropped after the test too.
      for (const extra of new Set(setup.flatMap((s) => s.match(/%_(owner|x)\b/g) ?? []))) roles.unshift(extra.replace('%', r.name));
      const db = connect(r.url);
      const error = await assertServingRole(db, policy ?? LEDGER).catch((e: unknown) => e);
      expect({ case: i, error: error instanceof PrivilegedRoleError }).toEqual({ case: i, error: true });
      expect((error as PrivilegedRoleError).findings).toEqual(expect.arrayContaining([expect.objectContaining(finding)]));
      expect((error as Error).message).toContain(finding.privilege!);
      await schemas.close(db);
    }
    // The owner role's table goes back to the owner before the roles are dropped.
    await sql`alter table ledger_entries owner to current_user`.execute(owner);
  });

  it('a role outside covenant_service lacks what it needs: MissingPrivilegeError (ERR_DB_ROLE_MISSING_PRIVILEGE) names it', async () => {
    const { schema, owner } = await migrated();
    const outsider = connect((await role(schema, owner, [])).url);
    await expect(assertServingRole(outsider, LEDGER)).rejects.toMatchObject({
      name: 'MissingPrivilegeError',
      code: 'ERR_DB_ROLE_MISSING_PRIVILEGE',
      findings: [
        { privilege: 'USAGE', on: 'the schema of ledger_entries (or the table is missing)' },
        { privilege: 'USAGE', on: 'the schema of ledger_checkpoints (or the table is missing)' },
      ],
    });
    const reader = connect((await role(schema, owner, [`grant usage on schema ${schema.schema} to %`, 'grant select on ledger_entries, ledger_checkpoints to %'])).url);
    const error = await assertServingRole(reader, LEDGER).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MissingPrivilegeError);
    expect((error as MissingPrivilegeError).findings.map((f) => `${f.privilege} ${f.on}`)).toEqual(['INSERT ledger_entries', 'INSERT ledger_checkpoints']);
    // Does nothing on SQLite (no roles), but still refuses misuse.
    const sqlite = connect(':memory:');
    await expect(assertServingRole(sqlite, LEDGER)).resolves.toBeUndefined();
    await expect(assertServingRole(sqlite, { appendOnly: ['ledger entries'] })).rejects.toBeInstanceOf(TypeError);
  });

  it('the owner need not be a superuser: a CREATEROLE role owning the schema migrates, and its serving role passes', async () => {
    const schema = await schemas.scratch();
    const admin = connect(schema.url);
    const ownerRole = await role(schema, admin, ['alter role % createrole', `alter schema ${schema.schema} owner to %`]);
    const owner = connect(ownerRole.url);
    const serving = connect(schema.servingUrl);
    expect(await pendingMigrations(serving)).toEqual(['0001-rbac', '0002-ledger', '0003-revocations', '0004-service-role', '0005-ledger-checkpoint-covers-log']);
    expect(await migrateToLatest(owner)).toEqual(['0001-rbac', '0002-ledger', '0003-revocations', '0004-service-role', '0005-ledger-checkpoint-covers-log']);
    expect(await pendingMigrations(serving)).toEqual([]);
    const { rows } = await sql<{ owner: string }>`select distinct pg_get_userbyid(relowner) as owner from pg_class c
      join pg_namespace n on n.oid = c.relnamespace where n.nspname = ${schema.schema} and relkind = 'r'`.execute(admin);
    expect(rows).toEqual([{ owner: ownerRole.name }]);
    await expect(assertServingRole(serving, { appendOnly: ['ledger_entries', 'ledger_checkpoints', 'rbac_changes'] })).resolves.toBeUndefined();
    await expect(assertServingRole(owner, LEDGER)).rejects.toMatchObject({ code: 'ERR_DB_ROLE_PRIVILEGED' });
    await serving.insertInto('ledger_entries').values(entry(0)).execute();
    expect(((await refusal(serving, 'alter table ledger_entries disable trigger all')) as { code?: string }).code).toBe('42501');
    // The tables go with the schema; the owner role is dropped after the test.
    await schema.drop();
  });
});
