import { sql, type Kysely, type Migration } from 'kysely';
import { ADVISORY_LOCKS, dialectOf, lockAdvisory } from './dialect.ts';
import { rbacMigration } from './migrations/0001-rbac.ts';
import { ledgerMigration } from './migrations/0002-ledger.ts';
import { revocationsMigration } from './migrations/0003-revocations.ts';
import { serviceRoleMigration } from './migrations/0004-service-role.ts';
import { ledgerCheckpointCoversLogMigration } from './migrations/0005-ledger-checkpoint-covers-log.ts';

/** Every store's migrations, in order. Names sort in the order they run; never rename or reorder one. */
export const MIGRATIONS: Readonly<Record<string, Migration>> = Object.freeze({
  '0001-rbac': rbacMigration,
  '0002-ledger': ledgerMigration,
  '0003-revocations': revocationsMigration,
  '0004-service-role': serviceRoleMigration,
  '0005-ledger-checkpoint-covers-log': ledgerCheckpointCoversLogMigration,
});

/**
 * Migration names: the framework's stores use `0001-…` to `0999-…`; an application's own tables use
 * `1000-…` and up (the helpdesk's `1001-helpdesk`). Tools that know only the framework's stores (the
 * `covenant` CLI) pass `{ ignoreUnknown: isAppMigration }` so that an application's database is not
 * mistaken for one written by a newer build.
 */
export function isAppMigration(name: string): boolean {
  return /^[1-9][0-9]{3}-/.test(name);
}

export interface MigrateOptions {
  /** Applied migrations this build does not know but may ignore (default: none; any unknown one refuses). */
  readonly ignoreUnknown?: (name: string) => boolean;
}

/** Thrown when the schema cannot be brought to the version this build knows. */
export class MigrationError extends Error {
  override readonly name = 'MigrationError';
  readonly code = 'ERR_DB_MIGRATION' as const;
}

const TABLE = 'covenant_migrations';

/**
 * Brings the database to the latest schema this build knows.
 *
 * - All pending migrations and their bookkeeping run in ONE immediate transaction: SQLite's DDL is
 *   transactional, so a migration that fails part-way leaves nothing behind and a retry starts clean.
 *   (kysely's Migrator runs SQLite migrations outside a transaction, which is why this is ours.)
 * - `BEGIN IMMEDIATE` takes the write lock before reading what was applied, so two processes starting
 *   at once on a fresh file serialise: the second waits (busy timeout), then finds nothing to do.
 * - On PostgreSQL (whose DDL is transactional too) the same transaction first takes the advisory lock
 *   `ADVISORY_LOCKS.migrations` (`pg_advisory_xact_lock(0x43564e54, 1)`): a second migrator, in any
 *   process, waits there, then finds nothing to do. It is released at commit or rollback.
 * - A database carrying a migration this build does not know (a newer build wrote it) is refused:
 *   starting anyway would run old code against a schema it does not understand.
 *
 * Returns the names of the migrations this call ran.
 *
 * @example
 * ```ts
 * await migrateToLatest(db); // at start-up, before serving
 * ```
 */
export async function migrateToLatest(
  db: Kysely<any>,
  migrations: Readonly<Record<string, Migration>> = MIGRATIONS,
  options: MigrateOptions = {},
): Promise<string[]> {
  const names = Object.keys(migrations).sort();
  return db.connection().execute(async (connection) => {
    const postgres = dialectOf(connection) === 'postgres';
    await (postgres ? sql`begin` : sql`begin immediate`).execute(connection);
    try {
      if (postgres) await lockAdvisory(connection, ADVISORY_LOCKS.migrations);
      await sql`create table if not exists ${sql.table(TABLE)} (name text primary key, applied_at text not null)`.execute(connection);
      const applied = new Set(
        (await connection.selectFrom(TABLE).select('name').execute()).map((row: { name: string }) => row.name),
      );
      refuseUnknown(applied, migrations, options);
      const ran: string[] = [];
      for (const name of names) {
        if (applied.has(name)) continue;
        try {
          await migrations[name]!.up(connection);
        } catch (error) {
          throw new MigrationError(`migration ${name} failed: ${(error as Error)?.message ?? String(error)}`, { cause: error });
        }
        await connection.insertInto(TABLE).values({ name, applied_at: new Date().toISOString() }).execute();
        ran.push(name);
      }
      await sql`commit`.execute(connection);
      return ran;
    } catch (error) {
      await sql`rollback`.execute(connection);
      throw error;
    }
  });
}

/**
 * The migrations `migrateToLatest` would run, without running any: what a service that may not migrate
 * (on PostgreSQL it serves as a role that cannot, ADR 0013) checks before it serves. Only reads; refuses a
 * database migrated by a newer build as `migrateToLatest` does (`MigrationError`).
 *
 * @example
 * ```ts
 * const pending = await pendingMigrations(db, SERVICE_MIGRATIONS);
 * if (pending.length > 0) throw new MigrationError(`run the migrations first: ${pending.join(', ')}`);
 * ```
 */
export async function pendingMigrations(
  db: Kysely<any>,
  migrations: Readonly<Record<string, Migration>> = MIGRATIONS,
  options: MigrateOptions = {},
): Promise<string[]> {
  const exists =
    dialectOf(db) === 'postgres'
      ? sql<{ found: boolean }>`select to_regclass(${TABLE}) is not null as found`
      : sql<{ found: number }>`select count(*) > 0 as found from sqlite_master where type = 'table' and name = ${TABLE}`;
  // A boolean from PostgreSQL, 0 or 1 from SQLite.
  const found = Boolean((await exists.execute(db)).rows[0]?.found);
  const applied = new Set<string>(
    found ? (await db.selectFrom(TABLE).select('name').execute()).map((row: { name: string }) => row.name) : [],
  );
  refuseUnknown(applied, migrations, options);
  return Object.keys(migrations)
    .sort()
    .filter((name) => !applied.has(name));
}

/** A database carrying a migration this build does not know (and may not ignore) was written by a newer build. */
function refuseUnknown(applied: ReadonlySet<string>, migrations: Readonly<Record<string, Migration>>, options: MigrateOptions): void {
  const ignorable = options.ignoreUnknown ?? (() => false);
  const unknown = [...applied].filter((name) => !Object.hasOwn(migrations, name) && !ignorable(name)).sort();
  if (unknown.length > 0) {
    throw new MigrationError(`the database was migrated by a newer build (unknown migrations: ${unknown.join(', ')}); refusing to start`);
  }
}
