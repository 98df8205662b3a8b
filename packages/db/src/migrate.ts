import { Migrator, type Kysely, type Migration, type MigrationProvider } from 'kysely';
import { rbacMigration } from './migrations/0001-rbac.ts';

/** Every store's migrations, in order. Names sort in the order they run; never rename or reorder one. */
export const MIGRATIONS: Readonly<Record<string, Migration>> = Object.freeze({
  '0001-rbac': rbacMigration,
});

/** Thrown when the schema cannot be brought to the version this build knows. */
export class MigrationError extends Error {
  override readonly name = 'MigrationError';
  readonly code = 'ERR_DB_MIGRATION' as const;
}

/**
 * Brings the database to the latest schema this build knows, in one transaction per migration. Refuses
 * a database that has migrations this build does not know (a newer build wrote it): starting anyway could
 * run old code against a schema it does not understand.
 *
 * @example
 * ```ts
 * await migrateToLatest(db); // at start-up, before serving
 * ```
 */
export async function migrateToLatest(db: Kysely<any>, migrations: Readonly<Record<string, Migration>> = MIGRATIONS): Promise<string[]> {
  const provider: MigrationProvider = { getMigrations: async () => ({ ...migrations }) };
  const migrator = new Migrator({ db, provider });
  const known = new Set(Object.keys(migrations));
  const newer = (await executedNames(db)).filter((name) => !known.has(name));
  if (newer.length > 0) {
    throw new MigrationError(
      `the database was migrated by a newer build (unknown migrations: ${newer.join(', ')}); refusing to start`,
    );
  }
  const { error, results } = await migrator.migrateToLatest();
  if (error !== undefined) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
    throw new MigrationError(`migration ${failed} failed: ${(error as Error).message ?? String(error)}`, { cause: error });
  }
  // The names of the migrations this call ran (none when the schema was already current).
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}

async function executedNames(db: Kysely<any>): Promise<string[]> {
  try {
    const rows = await db.selectFrom('kysely_migration').select('name').execute();
    return rows.map((row: { name: string }) => row.name);
  } catch {
    return []; // a new database: no migration table yet
  }
}
