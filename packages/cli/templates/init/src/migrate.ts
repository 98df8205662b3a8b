// `npm run migrate`: brings the database to the latest schema and exits. On PostgreSQL it runs as the
// tables' owner (MIGRATION_DATABASE_URL), before the service is started as its serving role
// (DATABASE_URL); on SQLite `npm start` migrates the file itself, and this does the same ahead of time.
import { readConfig } from './config.ts';
import { migrateDatabase } from './database.ts';

const config = readConfig(process.env);
const applied = await migrateDatabase(config.migrationDatabaseUrl ?? config.databaseUrl);
process.stdout.write(applied.length === 0 ? 'migrate: the database is up to date\n' : `migrate: applied ${applied.join(', ')}\n`);
