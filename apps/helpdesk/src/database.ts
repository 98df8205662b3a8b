import { mkdirSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MIGRATIONS, createDatabase, migrateToLatest } from '@covenant/db';
import type { RevocationTables } from '@covenant/identity/revocation-store';
import type { LedgerTables } from '@covenant/ledger';
import type { RbacTables } from '@covenant/rbac';
import type { Kysely } from 'kysely';

import { helpdeskMigration, type HelpdeskTables } from './helpdesk/tables.ts';
import { tenancyMigration } from './helpdesk/tenancy.ts';

/** Every table the service reads or writes. */
export type ServiceTables = RbacTables & LedgerTables & RevocationTables & HelpdeskTables;

/**
 * The framework's store migrations, then the helpdesk's own (numbered from 1001): its tables, then their
 * row-level security on PostgreSQL (1002, a no-op that only records itself on SQLite; ADR 0011).
 */
export const SERVICE_MIGRATIONS = Object.freeze({ ...MIGRATIONS, '1001-helpdesk': helpdeskMigration, '1002-helpdesk-tenancy': tenancyMigration });

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
 * Opens the database and brings its schema to the version this build knows, before anything is served:
 * a database written by a newer build is refused here (`MigrationError`), not on the first request.
 * The folder of a file database is created if missing (never for `:memory:` or a PostgreSQL URL).
 *
 * @example
 * ```ts
 * const db = await openDatabase(databaseUrl(process.env));
 * ```
 */
export async function openDatabase<T>(url: string): Promise<Kysely<T>> {
  if (url !== ':memory:' && !isPostgresUrl(url)) mkdirSync(dirname(url), { recursive: true });
  const db = createDatabase<T>({ url });
  try {
    await migrateToLatest(db, SERVICE_MIGRATIONS);
  } catch (error) {
    await db.destroy();
    throw error;
  }
  return db;
}
