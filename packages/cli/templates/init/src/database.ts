import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { MIGRATIONS, MigrationError, SERVICE_ROLE, createDatabase, dialectOf, migrateToLatest, pendingMigrations } from '{{import:db}}';
import type { RevocationTables } from '{{import:identity-revocations}}';
import type { LedgerTables } from '{{import:ledger-store}}';
import type { RbacTables } from '{{import:rbac}}';
import { sql, type Kysely, type Migration } from 'kysely';

/** The service's own tables. Every row carries its tenant; every handler filters on the caller's. */
export interface InvoiceTables {
  invoices: {
    id: string;
    org: string;
    workspace: string;
    reference: string;
    customer_email: string;
    amount: number;
    currency: string;
    memo: string | null;
    created_by: string;
    created_at: string;
  };
}

/** Every table the service reads or writes: Covenant's stores (RBAC, ledger, revocations) and yours. */
export type AppTables = RbacTables & LedgerTables & RevocationTables & InvoiceTables;

/** The tables whose rows belong to a tenant: handlers reach them confined to the caller's (see service.ts). */
export const TENANT_TABLES: ReadonlyArray<keyof InvoiceTables> = ['invoices'];

// Types `ctx.db` in every handler.
declare module '{{import:server}}' {
  interface Register {
    readonly database: Kysely<AppTables>;
  }
}

const invoicesMigration: Migration = {
  async up(db: Kysely<any>): Promise<void> {
    await db.schema
      .createTable('invoices')
      .addColumn('id', 'text', (col) => col.primaryKey())
      .addColumn('org', 'text', (col) => col.notNull())
      .addColumn('workspace', 'text', (col) => col.notNull())
      .addColumn('reference', 'text', (col) => col.notNull())
      .addColumn('customer_email', 'text', (col) => col.notNull())
      .addColumn('amount', 'integer', (col) => col.notNull())
      .addColumn('currency', 'text', (col) => col.notNull())
      .addColumn('memo', 'text')
      .addColumn('created_by', 'text', (col) => col.notNull())
      .addColumn('created_at', 'text', (col) => col.notNull())
      .addUniqueConstraint('invoices_reference', ['org', 'workspace', 'reference'])
      .execute();
    await db.schema.createIndex('invoices_by_tenant').on('invoices').columns(['org', 'workspace', 'created_at']).execute();
    // On PostgreSQL the service connects as a member of Covenant's serving role, not as the tables' owner.
    if (dialectOf(db) === 'postgres') await sql`grant select, insert, update, delete on invoices to ${sql.id(SERVICE_ROLE)}`.execute(db);
  },
};

/** Covenant's migrations, then yours: number them from 1001 (1000 and up are the application's). */
export const APP_MIGRATIONS: Readonly<Record<string, Migration>> = Object.freeze({
  ...MIGRATIONS,
  '1001-invoices': invoicesMigration,
});

const POSTGRES_URL = /^postgres(ql)?:\/\//i;

/**
 * Opens the database with its schema at the latest version, before anything is served.
 *
 * - A SQLite file (the default) is migrated through its one connection; its folder is created if missing.
 * - A `postgres://` URL is the serving role's, which cannot change the schema: the migrations run through
 *   `migrationUrl` (the tables' owner) when it is given, and a database with pending migrations is refused.
 */
export async function openDatabase(url: string, migrationUrl?: string): Promise<Kysely<AppTables>> {
  const postgres = POSTGRES_URL.test(url);
  if (postgres && migrationUrl !== undefined) await migrateDatabase(migrationUrl);
  if (!postgres && url !== ':memory:') mkdirSync(dirname(url), { recursive: true, mode: 0o700 });
  const db = createDatabase<AppTables>({ url });
  try {
    if (!postgres) {
      await migrateToLatest(db, APP_MIGRATIONS);
    } else {
      const pending = await pendingMigrations(db, APP_MIGRATIONS);
      if (pending.length > 0) {
        throw new MigrationError(`the database is not migrated (pending: ${pending.join(', ')}): run npm run migrate with MIGRATION_DATABASE_URL, the tables' owner`);
      }
    }
  } catch (error) {
    await db.destroy();
    throw error;
  }
  return db;
}

/**
 * Brings the database at `url` to the latest schema and closes it; returns the migrations it ran. On
 * PostgreSQL `url` is the tables' owner's; a SQLite file is created, with its folder, if missing.
 */
export async function migrateDatabase(url: string): Promise<string[]> {
  if (!POSTGRES_URL.test(url) && url !== ':memory:') mkdirSync(dirname(url), { recursive: true, mode: 0o700 });
  const db = createDatabase<unknown>({ url });
  try {
    return await migrateToLatest(db, APP_MIGRATIONS);
  } finally {
    await db.destroy();
  }
}
