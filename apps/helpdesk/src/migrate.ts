import { databaseUrl, isPostgresUrl, migrateDatabase, migrationDatabaseUrl } from './database.ts';

/**
 * `npm run migrate`: brings the helpdesk's database to the latest schema and exits, so that a deployment
 * can migrate as the owner of the tables and then start the service with the serving role's URL only
 * (ADR 0013). On PostgreSQL it migrates COVENANT_MIGRATION_DATABASE_URL (required there); on SQLite,
 * COVENANT_DATABASE_URL or the default file, which `npm start` would migrate itself anyway.
 */
async function migrate(): Promise<number> {
  const owner = migrationDatabaseUrl(process.env);
  const serving = databaseUrl(process.env);
  if (owner === undefined && isPostgresUrl(serving)) {
    process.stderr.write('npm run migrate: set COVENANT_MIGRATION_DATABASE_URL to the owner\'s postgres:// URL (the service\'s own role cannot migrate)\n');
    return 2;
  }
  const ran = await migrateDatabase(owner ?? serving);
  process.stdout.write(ran.length === 0 ? 'npm run migrate: the schema is current\n' : `npm run migrate: ran ${ran.join(', ')}\n`);
  return 0;
}

process.exitCode = await migrate();
