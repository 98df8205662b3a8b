import { mkdirSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MIGRATIONS, MigrationError, assertServingRole, createDatabase, migrateToLatest, pendingMigrations } from '@covenant/db';
import type { RevocationTables } from '@covenant/identity/revocation-store';
import type { LedgerTables } from '@covenant/ledger';
import type { RbacTables } from '@covenant/rbac';
import type { Kysely } from 'kysely';

import { helpdeskMigration, type HelpdeskTables } from './helpdesk/tables.ts';
import { HELPDESK_TABLES, serviceTenancyMigration, tenancyMigration } from './helpdesk/tenancy.ts';

/** Every table the service reads or writes. */
export type ServiceTables = RbacTables & LedgerTables & RevocationTables & HelpdeskTables;

/**
 * The framework's store migrations, then the helpdesk's own (numbered from 1001): its tables, then their
 * row-level security on PostgreSQL (1002; ADR 0011), then the serving role's way into it (1003; ADR 0013).
 * 1002 and 1003 are no-ops that only record themselves on SQLite.
 */
export const SERVICE_MIGRATIONS = Object.freeze({
  ...MIGRATIONS,
  '1001-helpdesk': helpdeskMigration,
  '1002-helpdesk-tenancy': tenancyMigration,
  '1003-helpdesk-service-role': serviceTenancyMigration,
});

declare module '@covenant/server' {
  interface Register {
    /** Handlers' `ctx.db`: the database, or — in audited procedures — the ledger's transaction on it. */
    readonly database: Kysely<ServiceTables>;
  }
}

/** Where `npm start` keeps its data and development keys by default: `apps/helpdesk/data/` (git-ignored). */
export const DEFAULT_DATA_DIR = fileURLToPath(new URL('../data', import.meta.url));

/** The data folder: COVENANT_DATA_DIR, else `apps/helpdesk/data/`. Keys (dev issuer, ledger) live here. */
export function dataDir(env: NodeJS.ProcessEnv): string {
  const configured = env['COVENANT_DATA_DIR'];
  return configured === undefined || configured === '' ? DEFAULT_DATA_DIR : resolve(configured);
}

const POSTGRES_URL = /^postgres(ql)?:\/\//i;

/** Whether `url` names a PostgreSQL database (`postgres://` or `postgresql://`) rather than a SQLite file. */
export function isPostgresUrl(url: string): boolean {
  return POSTGRES_URL.test(url);
}

/**
 * The database the service runs on: COVENANT_DATABASE_URL (a SQLite file path, `:memory:`, or a
 * `postgres://` / `postgresql://` connection string, taken as is), else `covenant.db` in the data folder.
 * A relative path is taken from the working directory. Several service processes may share one
 * PostgreSQL database (ADR 0010); a SQLite file has one service process.
 */
export function databaseUrl(env: NodeJS.ProcessEnv): string {
  const configured = env['COVENANT_DATABASE_URL'];
  if (configured === undefined || configured === '') return join(dataDir(env), 'covenant.db');
  return configured === ':memory:' || isPostgresUrl(configured) || isAbsolute(configured) ? configured : resolve(configured);
}

/**
 * The owner's connection string on PostgreSQL, for the migrations: COVENANT_MIGRATION_DATABASE_URL, or
 * `undefined` (ADR 0013). The service itself serves through COVENANT_DATABASE_URL, as a role that cannot
 * change the tables it only appends to.
 */
export function migrationDatabaseUrl(env: NodeJS.ProcessEnv): string | undefined {
  const configured = env['COVENANT_MIGRATION_DATABASE_URL'];
  return configured === undefined || configured === '' ? undefined : configured;
}

export interface OpenDatabaseOptions {
  /**
   * PostgreSQL only: the owner's connection string. The migrations run through it (then it is closed);
   * without it the database must already be migrated (`npm run migrate`), and is refused otherwise.
   */
  readonly migrationUrl?: string;
}

/**
 * Opens the database with its schema at the version this build knows, before anything is served: a
 * database written by a newer build is refused here (`MigrationError`), not on the first request.
 *
 * - SQLite (no roles): migrates it through the same connection. The folder of a file is created if
 *   missing (never for `:memory:`).
 * - PostgreSQL (ADR 0013): migrates through `migrationUrl` (the owner) when given, then opens `url` (the
 *   serving role), refuses it while migrations are pending (`MigrationError`), and refuses a serving role
 *   that could escape the helpdesk's row-level security (`PrivilegedRoleError`: an owner of its tables, a
 *   superuser, BYPASSRLS) or change the RBAC change log. The ledger store checks its own tables.
 *
 * @example
 * ```ts
 * const db = await openDatabase(databaseUrl(process.env), { migrationUrl: migrationDatabaseUrl(process.env) });
 * ```
 */
export async function openDatabase<T>(url: string, options: OpenDatabaseOptions = {}): Promise<Kysely<T>> {
  const migrationUrl = options.migrationUrl;
  const postgres = isPostgresUrl(url);
  if (migrationUrl !== undefined && (!postgres || typeof migrationUrl !== 'string' || !isPostgresUrl(migrationUrl))) {
    throw new TypeError('openDatabase: "migrationUrl" is a postgres:// URL, for a PostgreSQL database only (SQLite migrates through its one connection)');
  }
  if (!postgres) {
    if (url !== ':memory:') mkdirSync(dirname(url), { recursive: true });
    const db = createDatabase<T>({ url });
    try {
      await migrateToLatest(db, SERVICE_MIGRATIONS);
    } catch (error) {
      await db.destroy();
      throw error;
    }
    return db;
  }
  if (migrationUrl !== undefined) await migrateDatabase(migrationUrl);
  const db = createDatabase<T>({ url });
  try {
    const pending = await pendingMigrations(db, SERVICE_MIGRATIONS);
    if (pending.length > 0) {
      throw new MigrationError(
        `the database is not migrated (pending: ${pending.join(', ')}): run them as the owner of the tables ` +
          '(npm run migrate, or COVENANT_MIGRATION_DATABASE_URL) before serving',
      );
    }
    await assertServingRole(db, { rowLevelSecurity: HELPDESK_TABLES, appendOnly: ['rbac_changes'] });
  } catch (error) {
    await db.destroy();
    throw error;
  }
  return db;
}

/**
 * Brings the database at `url` to the latest schema (every `SERVICE_MIGRATIONS`) and closes it; returns
 * the migrations it ran. On PostgreSQL `url` is the owner's (what `npm run migrate` does with
 * COVENANT_MIGRATION_DATABASE_URL); on SQLite, the file (created with its folder if missing).
 */
export async function migrateDatabase(url: string): Promise<string[]> {
  if (url !== ':memory:' && !isPostgresUrl(url)) mkdirSync(dirname(url), { recursive: true });
  const db = createDatabase<unknown>({ url });
  try {
    return await migrateToLatest(db, SERVICE_MIGRATIONS);
  } finally {
    await db.destroy();
  }
}
