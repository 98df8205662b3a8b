import Database from 'better-sqlite3';
import { Kysely, PostgresDialect, SqliteDialect } from 'kysely';
import pg from 'pg';
import { withStatementCache } from './statement-cache.ts';

export interface DatabaseOptions {
  /**
   * Where the data lives: a SQLite file path, `:memory:` for tests, or a `postgres://` / `postgresql://`
   * connection string (every pg option works in it, e.g. `?options=-c search_path=tenant_a`).
   */
  readonly url: string;
}

const POSTGRES_URL = /^postgres(ql)?:\/\//i;

/**
 * A kysely instance set up the way a server needs it.
 *
 * - A SQLite path (the embedded default, better-sqlite3): WAL (readers do not block the writer), foreign
 *   keys enforced, a busy timeout so that a second process waits for the write lock instead of failing,
 *   `synchronous = FULL` so a committed transaction survives power loss; prepared statements are reused
 *   from a bounded cache (see `withStatementCache`).
 * - A PostgreSQL URL: a `pg` Pool (ADR 0009) whose `bigint` values come back as numbers (a safe-integer
 *   check refuses larger ones) and whose `bytea` values come back as plain `Uint8Array`s, as they do from
 *   SQLite, so that stores read the same shapes from either. `destroy()` ends the pool.
 *
 * @example
 * ```ts
 * const db = createDatabase<CovenantTables>({ url: process.env.DATABASE_URL ?? 'data/covenant.db' });
 * await migrateToLatest(db);
 * ```
 */
export function createDatabase<T>(options: DatabaseOptions): Kysely<T> {
  const url = options?.url;
  if (typeof url !== 'string' || url === '') throw new TypeError('createDatabase: "url" is required');
  if (POSTGRES_URL.test(url)) return createPostgres<T>(url);
  const sqlite = new Database(url);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('busy_timeout = 5000');
  sqlite.pragma('synchronous = FULL');
  return new Kysely<T>({ dialect: new SqliteDialect({ database: withStatementCache(sqlite) }) });
}

const INT8_OID = 20;
const BYTEA_OID = 17;
const parseBytea = pg.types.getTypeParser(BYTEA_OID, 'text') as (value: string) => Buffer;

/** Per pool, not pg's process-wide `types.setTypeParser`: another pool in the same process keeps its own. */
const covenantTypes = {
  getTypeParser(oid: number, format?: 'text' | 'binary'): (value: string) => unknown {
    if (oid === INT8_OID && format !== 'binary') return parseSafeInteger;
    // A copy: pg decodes small values into Node's shared Buffer pool, whose other bytes are not ours to expose.
    if (oid === BYTEA_OID && format !== 'binary') return (value: string) => new Uint8Array(parseBytea(value));
    return pg.types.getTypeParser(oid, format ?? 'text') as (value: string) => unknown;
  },
};

function parseSafeInteger(value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw new RangeError(`createDatabase: bigint ${value} is beyond Number.MAX_SAFE_INTEGER`);
  return n;
}

function createPostgres<T>(url: string): Kysely<T> {
  const pool = new pg.Pool({ connectionString: url, types: covenantTypes });
  // An idle connection that dies (server restart, network) emits 'error' on the pool; unhandled, that would
  // crash the process. The pool drops the client and the next query opens a fresh one.
  pool.on('error', () => undefined);
  // A checked-out connection that dies emits 'error' on the client, not the pool: without a listener that
  // too would crash the process. The query running on it fails with the error, which is what callers see.
  pool.on('connect', (client) => client.on('error', () => undefined));
  return new Kysely<T>({ dialect: new PostgresDialect({ pool }) });
}
