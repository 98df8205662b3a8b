import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDatabase, migrateToLatest } from '@covenant/db';
import type { Kysely } from 'kysely';
import { postgresTestDatabase } from '../postgres.ts';

/**
 * One fresh database for one test, migrated to the latest framework migrations (@covenant/db).
 * The suites open one per test (`it`) and dispose it after that test, so no test sees another's rows.
 */
export interface ConformanceDatabase {
  /**
   * The first connection (pool) on the database, migrated; what a store is given. On PostgreSQL it is the
   * serving role (a member of `covenant_service`: SELECT and INSERT on the ledger tables, ADR 0013), not
   * the owner of the tables.
   */
  readonly db: Kysely<any>;
  /**
   * A connection as the owner of the tables (PostgreSQL: the role that ran the migrations; SQLite: `db`
   * itself, which has no roles): for what a serving role may not do — DDL and grants in a test's set-up,
   * and an attacker's edits.
   */
  readonly owner: Kysely<any>;
  /**
   * Another connection (pool, or SQLite handle) on the SAME database: what a second process would open.
   * The suites use it to show that a second store sees a first one's committed writes (and only those).
   * Each call opens a new one; `dispose` closes them all.
   */
  another(): Promise<Kysely<any>>;
  /** Closes every connection opened for this database and deletes the database (file, or schema). */
  dispose(): Promise<void>;
}

/**
 * What a backend gives the conformance suites: a name for the test titles and a way to open a fresh,
 * migrated database. `open()` is called once per test.
 */
export interface StoreConformanceFactory {
  readonly name: string;
  open(): Promise<ConformanceDatabase>;
}

/**
 * SQLite through a temporary file per test (not `:memory:`: `another()` must be a real second connection
 * on the same data, as a second process would have).
 */
export function sqliteConformanceFactory(): StoreConformanceFactory {
  return {
    name: 'SQLite',
    async open() {
      const dir = mkdtempSync(join(tmpdir(), 'covenant-conformance-'));
      const url = join(dir, 'store.db');
      const handles: Array<Kysely<any>> = [];
      const connect = (): Kysely<any> => {
        const db = createDatabase<any>({ url });
        handles.push(db);
        return db;
      };
      const dispose = async (): Promise<void> => {
        for (const handle of handles.splice(0)) await handle.destroy();
        rmSync(dir, { recursive: true, force: true });
      };
      const db = connect();
      try {
        await migrateToLatest(db);
      } catch (error) {
        await dispose();
        throw error;
      }
      return { db, owner: db, another: async () => connect(), dispose };
    },
  };
}

/**
 * PostgreSQL through a throw-away schema per test (see `postgresTestDatabase`) in the database `baseUrl`
 * names, migrated by the owner (`owner`); `db` and `another()` (a second pool on the same schema) connect
 * as the schema's serving role. With `baseUrl` undefined, `open()` throws: gate the suite with
 * `describe.skipIf(postgresTestUrl() === undefined)`.
 */
export function postgresConformanceFactory(baseUrl: string | undefined): StoreConformanceFactory {
  return {
    name: 'PostgreSQL',
    async open() {
      const scratch = await postgresTestDatabase(baseUrl);
      const handles: Array<Kysely<any>> = [];
      const connect = (url: string): Kysely<any> => {
        const db = createDatabase<any>({ url });
        handles.push(db);
        return db;
      };
      const dispose = async (): Promise<void> => {
        for (const handle of handles.splice(0)) await handle.destroy();
        await scratch.drop();
      };
      const owner = connect(scratch.url);
      try {
        await migrateToLatest(owner);
      } catch (error) {
        await dispose();
        throw error;
      }
      return { db: connect(scratch.servingUrl), owner, another: async () => connect(scratch.servingUrl), dispose };
    },
  };
}
