import Database from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';

export interface DatabaseOptions {
  /**
   * Where the data lives: a SQLite file path, or `:memory:` for tests. (PostgreSQL URLs are the
   * several-instances path of a later issue; they are refused here rather than half-supported.)
   */
  readonly url: string;
}

/**
 * A kysely instance on the embedded default, SQLite through better-sqlite3, set up the way a server
 * needs it: WAL (readers do not block the writer), foreign keys enforced, a busy timeout so that a
 * second process waits for the write lock instead of failing, `synchronous = FULL` so a committed
 * transaction survives power loss.
 *
 * @example
 * ```ts
 * const db = createDatabase<CovenantTables>({ url: 'data/covenant.db' });
 * await migrateToLatest(db);
 * ```
 */
export function createDatabase<T>(options: DatabaseOptions): Kysely<T> {
  const url = options?.url;
  if (typeof url !== 'string' || url === '') throw new TypeError('createDatabase: "url" is required');
  if (/^postgres(ql)?:\/\//i.test(url)) {
    throw new TypeError('createDatabase: PostgreSQL is not supported yet; use a SQLite file path');
  }
  const sqlite = new Database(url);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('busy_timeout = 5000');
  sqlite.pragma('synchronous = FULL');
  return new Kysely<T>({ dialect: new SqliteDialect({ database: sqlite }) });
}
