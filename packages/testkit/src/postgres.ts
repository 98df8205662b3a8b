import { randomBytes } from 'node:crypto';
import pg from 'pg';

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
  /** The base URL with `options=-c search_path=<schema>`: every connection opened from it works in the schema. */
  readonly url: string;
  readonly schema: string;
  /** Drops the schema and everything in it. */
  drop(): Promise<void>;
}

/**
 * Creates a schema `t_<random>` in the database `baseUrl` names (default: `COVENANT_TEST_PG`) and returns a
 * connection string whose connections use it, so that test files (and tests) running at the same time on
 * one server never see each other's tables. Call `drop()` after the test.
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
  await admin(baseUrl, `create schema ${schema}`);
  const url = new URL(baseUrl);
  url.searchParams.set('options', `-c search_path=${schema}`);
  let dropped = false;
  return Object.freeze({
    url: url.toString(),
    schema,
    async drop(): Promise<void> {
      if (dropped) return;
      dropped = true;
      await admin(baseUrl, `drop schema if exists ${schema} cascade`);
    },
  });
}

async function admin(url: string, statement: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(statement);
  } finally {
    await client.end();
  }
}
