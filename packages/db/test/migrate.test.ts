import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql, type Kysely, type Migration } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { MIGRATIONS, MigrationError, createDatabase, isAppMigration, migrateToLatest, pendingMigrations } from '../src/index.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const open: Array<Kysely<any>> = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const db of open.splice(0)) await db.destroy();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function memory(): Kysely<any> {
  const db = createDatabase<any>({ url: ':memory:' });
  open.push(db);
  return db;
}

function tempFile(): string {
  const dir = mkdtempSync(join(tmpdir(), 'covenant-db-'));
  dirs.push(dir);
  return join(dir, 'covenant.db');
}

async function tables(db: Kysely<any>): Promise<string[]> {
  const rows = await sql<{ name: string }>`select name from sqlite_master where type = 'table' and name not like 'sqlite_%' order by name`.execute(db);
  return rows.rows.map((r) => r.name);
}

describe('migrateToLatest', () => {
  it('runs every migration on a fresh database and nothing the second time', async () => {
    const db = memory();
    expect(await migrateToLatest(db)).toEqual(['0001-rbac', '0002-ledger', '0003-revocations', '0004-service-role', '0005-ledger-checkpoint-covers-log']);
    expect(await tables(db)).toEqual([
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
    expect(await migrateToLatest(db)).toEqual([]);
    expect((await db.selectFrom('covenant_migrations').select('name').execute()).map((r) => r.name)).toEqual(['0001-rbac', '0002-ledger', '0003-revocations', '0004-service-role', '0005-ledger-checkpoint-covers-log']);
  });

  it('knows exactly the migrations this build ships, in order', () => {
    expect(Object.keys(MIGRATIONS)).toEqual(['0001-rbac', '0002-ledger', '0003-revocations', '0004-service-role', '0005-ledger-checkpoint-covers-log']);
    expect(Object.isFrozen(MIGRATIONS)).toBe(true);
  });

  it('refuses a database migrated by a newer build, naming the unknown migration, and changes nothing', async () => {
    const db = memory();
    await migrateToLatest(db);
    await db.insertInto('covenant_migrations').values({ name: '9999-future', applied_at: new Date(0).toISOString() }).execute();
    const error = await migrateToLatest(db).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MigrationError);
    expect(error).toMatchObject({ name: 'MigrationError', code: 'ERR_DB_MIGRATION' });
    expect((error as Error).message).toContain('9999-future');
    expect((await db.selectFrom('covenant_migrations').select('name').orderBy('name').execute()).map((r) => r.name)).toEqual(['0001-rbac', '0002-ledger', '0003-revocations', '0004-service-role', '0005-ledger-checkpoint-covers-log', '9999-future']);
  });

  it('with ignoreUnknown: isAppMigration, an application migration (1000 and up) is left alone, an unknown framework one still refuses', async () => {
    const db = memory();
    await migrateToLatest(db);
    await db.insertInto('covenant_migrations').values({ name: '1001-helpdesk', applied_at: new Date(0).toISOString() }).execute();
    await expect(migrateToLatest(db)).rejects.toThrow(/1001-helpdesk/);
    await expect(migrateToLatest(db, MIGRATIONS, { ignoreUnknown: isAppMigration })).resolves.toEqual([]);
    await db.insertInto('covenant_migrations').values({ name: '0003-future', applied_at: new Date(0).toISOString() }).execute();
    await expect(migrateToLatest(db, MIGRATIONS, { ignoreUnknown: isAppMigration })).rejects.toThrow(/0003-future/);
    expect(['1001-helpdesk', '1000-x', '9999-y'].every(isAppMigration)).toBe(true);
    expect(['0001-rbac', '0999-z', 'x-1001', '1001', '10001-a'].some(isAppMigration)).toBe(false);
  });

  it('refuses a newer database even before its own migrations ran (a future build migrated an empty file)', async () => {
    const db = memory();
    await migrateToLatest(db, {});
    await db.insertInto('covenant_migrations').values({ name: '0003-future', applied_at: new Date(0).toISOString() }).execute();
    await expect(migrateToLatest(db)).rejects.toThrow(/0003-future/);
    expect(await tables(db)).not.toContain('rbac_roles');
  });

  it('rolls a failing migration back completely, with everything else of the same run, so a retry starts clean', async () => {
    const db = memory();
    const broken: Migration = {
      async up(trx) {
        await trx.schema.createTable('half_done').addColumn('id', 'integer').execute();
        throw new Error('boom');
      },
    };
    const error = await migrateToLatest(db, { ...MIGRATIONS, '0002-broken': broken }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MigrationError);
    expect((error as Error).message).toContain('0002-broken');
    expect((error as Error).cause).toMatchObject({ message: 'boom' });
    expect(await tables(db)).toEqual([]);
    // The next start, with a fixed build, runs everything from the beginning.
    expect(await migrateToLatest(db)).toEqual(['0001-rbac', '0002-ledger', '0003-revocations', '0004-service-role', '0005-ledger-checkpoint-covers-log']);
  });

  it('serialises two processes migrating a fresh file at the same time: one runs, the other finds it done', async () => {
    // Separate processes: better-sqlite3 is synchronous, so two connections in one thread would wait on
    // each other's lock instead of taking turns.
    const url = tempFile();
    const startAt = String(Date.now() + 1500);
    const run = () =>
      new Promise<string[]>((resolve, reject) => {
        execFile(process.execPath, ['--import', 'tsx', join(HERE, 'fixtures/migrate-file.ts'), url, startAt], { cwd: HERE }, (error, stdout, stderr) =>
          error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(JSON.parse(stdout) as string[]),
        );
      });
    const results = await Promise.all([run(), run()]);
    // Exactly one process ran the migrations; the other waited for the lock and found nothing to do.
    expect(results.flat().sort()).toEqual(['0001-rbac', '0002-ledger', '0002-slow', '0003-revocations', '0004-service-role', '0005-ledger-checkpoint-covers-log']);
    expect(results.filter((ran) => ran.length === 0)).toHaveLength(1);
  });

  it('pendingMigrations reads what migrateToLatest would run, runs nothing, and refuses a newer build the same way', async () => {
    const db = memory();
    expect(await pendingMigrations(db)).toEqual(['0001-rbac', '0002-ledger', '0003-revocations', '0004-service-role', '0005-ledger-checkpoint-covers-log']);
    expect(await tables(db)).toEqual([]);
    await migrateToLatest(db, { '0001-rbac': MIGRATIONS['0001-rbac']! });
    expect(await pendingMigrations(db)).toEqual(['0002-ledger', '0003-revocations', '0004-service-role', '0005-ledger-checkpoint-covers-log']);
    await migrateToLatest(db);
    expect(await pendingMigrations(db)).toEqual([]);
    await db.insertInto('covenant_migrations').values({ name: '1001-helpdesk', applied_at: new Date(0).toISOString() }).execute();
    await expect(pendingMigrations(db)).rejects.toThrow(/1001-helpdesk/);
    await expect(pendingMigrations(db, MIGRATIONS, { ignoreUnknown: isAppMigration })).resolves.toEqual([]);
  });

  it('a second connection to the same file finds the schema current', async () => {
    const url = tempFile();
    const first = createDatabase<any>({ url });
    open.push(first);
    expect(await migrateToLatest(first)).toEqual(['0001-rbac', '0002-ledger', '0003-revocations', '0004-service-role', '0005-ledger-checkpoint-covers-log']);
    const second = createDatabase<any>({ url });
    open.push(second);
    expect(await migrateToLatest(second)).toEqual([]);
  });
});
