export { createDatabase } from './create-database.ts';
export type { DatabaseOptions } from './create-database.ts';
export { ADVISORY_LOCKS, beginSnapshot, dialectOf, lockAdvisory } from './dialect.ts';
export type { Dialect } from './dialect.ts';
export { MIGRATIONS, MigrationError, isAppMigration, migrateToLatest } from './migrate.ts';
export type { MigrateOptions } from './migrate.ts';
export { withSavepoint } from './savepoint.ts';
export { ReadOnlyViolationError, readOnly } from './read-only.ts';
