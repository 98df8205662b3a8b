export { createDatabase } from './create-database.ts';
export type { DatabaseOptions } from './create-database.ts';
export { MIGRATIONS, MigrationError, migrateToLatest } from './migrate.ts';
export { withSavepoint } from './savepoint.ts';
export { ReadOnlyViolationError, readOnly } from './read-only.ts';
