import { randomBytes } from 'node:crypto';
import { SERVICE_ROLE, createDatabase, migrateToLatest } from '@covenant/db';
import type { Kysely } from 'kysely';
import pg from 'pg';
import { afterEach } from 'vitest';

/** The environment variable that turns the PostgreSQL suites on: a connection string to a scratch database. */
export const POSTGRES_TEST_ENV = 'COVENANT_TEST_PG';

let warned = false;

/**
 * The PostgreSQL connection string of this test run, or `undefined` when `COVENANT_TEST_PG` is not set.
 * Unset, it prints one warning per test file that the PostgreSQL suites are skipped and how to run them,
 * so that a skipped suite is never mistaken for a passed one.
 *
 * @example
 * ```ts
 * const url = postgresTestUrl();
 * describe.skipIf(url === undefined)('ledger store on PostgreSQL', () => { … });
 * ```
 */
export function postgresTestUrl(): string | undefined {
  const url = process.env[POSTGRES_TEST_ENV];
  if (url !== undefined && url !== '') return url;
  if (!warned) {
    warned = true;
    console.warn(
      `PostgreSQL suites skipped: set ${POSTGRES_TEST_ENV} to a connection string to run them ` +
        `(e.g. ${POSTGRES_TEST_ENV}=postgres://postgres@127.0.0.1:5432/test; .ci/run sets it).`,
    );
  }
  return undefined;
}

/** A throw-away schema in the test database. */
export interface PostgresTestDatabase {
  /**
   * The base URL with `options=-c search_path=<schema>`: every connection opened from it works in the
   * schema, as the base URL's user (the test superuser). Migrate with it: it plays the owner of the tables.
   */
  readonly url: string;
  /**
   * The same schema as the schema's own serving role (`<schema>_serve`, a LOGIN role with a random
   * password, member of `covenant_service` and nothing else): what a service connects as (ADR 0013). It
   * gets its privileges from the migrations (0004-service-role), so migrate through `url` first.
   */
  readonly servingUrl: string;
  /** The serving role's name. */
  readonly servingRole: string;
  readonly schema: string;
  /** Drops the schema and everything in it, and the serving role. */
  drop(): Promise<void>;
}

/**
 * Creates a schema `t_<random>` in the database `baseUrl` names (default: `COVENANT_TEST_PG`) and returns a
 * connection string whose connections use it, so that test files (and tests) running at the same time on
 * one server never see each other's tables, and one that connects as a serving role of its own. Call
 * `drop()` after the test.
 *
 * It also revokes TEMPORARY on the test database from PUBLIC (a serving role that may create temporary
 * tables is refused by the ledger store: one could shadow the ledger's tables), and creates the NOLOGIN
 * role `covenant_service` if the cluster has none yet, as migration 0004-service-role would.
 *
 * @example
 * ```ts
 * const scratch = await postgresTestDatabase();
 * const db = createDatabase<any>({ url: scratch.url });
 * // … afterAll: await db.destroy(); await scratch.drop();
 * ```
 */
export async function postgresTestDatabase(baseUrl: string | undefined = postgresTestUrl()): Promise<PostgresTestDatabase> {
  if (baseUrl === undefined || baseUrl === '') throw new Error(`postgresTestDatabase: ${POSTGRES_TEST_ENV} is not set`);
  const schema = `t_${randomBytes(8).toString('hex')}`;
  const servingRole = `${schema}_serve`;
  const password = randomBytes(16).toString('hex');
  await admin(baseUrl, [
    `create schema ${schema}`,
    // Roles are cluster-wide: another test file, or another database of the cluster, may create it at the same time.
    `do $$ begin
       if not exists (select from pg_roles where rolname = '${SERVICE_ROLE}') then create role ${SERVICE_ROLE} nologin; end if;
     exception when duplicate_object or unique_violation then null;
     end $$`,
    `create role ${servingRole} login password '${password}' in role ${SERVICE_ROLE}`,
    `do $$ begin execute format('revoke temporary on database %I from public', current_database()); end $$`,
  ]);
  const url = new URL(baseUrl);
  url.searchParams.set('options', `-c search_path=${schema}`);
  const serving = new URL(url);
  serving.username = servingRole;
  serving.password = password;
  let dropped = false;
  return Object.freeze({
    url: url.toString(),
    servingUrl: serving.toString(),
    servingRole,
    schema,
    async drop(): Promise<void> {
      if (dropped) return;
      dropped = true;
      await admin(baseUrl, [`drop schema if exists ${schema} cascade`, `drop owned by ${servingRole}`, `drop role if exists ${servingRole}`]);
    },
  });
}

/** What {@link postgresSchemasPerTest} hands a test file. */
export interface PostgresSchemasPerTest {
  /** A connection (a kysely pool) to `url`, destroyed after the test. */
  connect(url: string): Kysely<any>;
  /** A fresh schema (see {@link postgresTestDatabase}), dropped after the test, once its connections are closed. */
  scratch(): Promise<PostgresTestDatabase>;
  /** A fresh schema migrated by its owner, with a connection as the owner and one as its serving role. */
  migrated(): Promise<{ readonly schema: PostgresTestDatabase; readonly owner: Kysely<any>; readonly serving: Kysely<any> }>;
  /** Destroys a connection `connect` opened now, not after the test (a process that ends mid-test). */
  close(db: Kysely<any>): Promise<void>;
}

/**
 * Schemas and connections for one test file: registers an `afterEach` (where it is called) that destroys
 * every connection opened through it, then drops every schema. Hooks a file registers after this call run
 * before it (vitest runs after-hooks as a stack): close what uses the connections there.
 *
 * @example
 * ```ts
 * const baseUrl = postgresTestUrl();
 * const pg = postgresSchemasPerTest(baseUrl);
 * // Without COVENANT_TEST_PG there is no PostgreSQL to test on: postgresTestUrl() has said so, and the suite
 * // is skipped (.ci/run always sets it).
 * describe.skipIf(baseUrl === undefined)('…', () => {
 *   it('…', async () => {
 *     const { owner, serving } = await pg.migrated();
 *   });
 * });
 * ```
 */
export function postgresSchemasPerTest(baseUrl: string | undefined = postgresTestUrl()): PostgresSchemasPerTest {
  const open: Array<Kysely<any>> = [];
  const schemas: PostgresTestDatabase[] = [];
  afterEach(async () => {
    for (const db of open.splice(0)) await db.destroy();
    for (const schema of schemas.splice(0)) await schema.drop();
  });
  const connect = (url: string): Kysely<any> => {
    const db = createDatabase<any>({ url });
    open.push(db);
    return db;
  };
  const scratch = async (): Promise<PostgresTestDatabase> => {
    const schema = await postgresTestDatabase(baseUrl);
    schemas.push(schema);
    return schema;
  };
  return {
    connect,
    scratch,
    async close(db) {
      const at = open.indexOf(db);
      if (at < 0) throw new Error('postgresSchemasPerTest: close() takes a connection connect() opened');
      open.splice(at, 1);
      await db.destroy();
    },
    async migrated() {
      const schema = await scratch();
      const owner = connect(schema.url);
      await migrateToLatest(owner);
      return { schema, owner, serving: connect(schema.servingUrl) };
    },
  };
}

async function admin(url: string, statements: ReadonlyArray<string>): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    for (const statement of statements) await client.query(statement);
  } finally {
    await client.end();
  }
}
