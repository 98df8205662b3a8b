import type { Database, Statement } from 'better-sqlite3';
import type { SqliteDatabase } from 'kysely';

/** Distinct SQL texts kept prepared; a server's queries are a few hundred shapes at most. */
export const STATEMENT_CACHE_SIZE = 512;

/**
 * Hands kysely's SQLite driver prepared statements from a bounded cache keyed by SQL text.
 *
 * Why: the driver calls `prepare(sql)` for every query, and preparing (parsing and planning) is the
 * largest single cost of a short query on better-sqlite3. kysely compiles the same query shape to the
 * same SQL with `?` placeholders, so statements are reused across calls with new parameters.
 * A statement that is busy (an `iterate()` still open on it, from a streamed query) is never handed out
 * twice: that call gets a fresh, uncached statement. SQLite re-prepares a cached statement itself after
 * a schema change.
 */
export function withStatementCache(sqlite: Database, size: number = STATEMENT_CACHE_SIZE): SqliteDatabase {
  const cache = new Map<string, Statement>();
  return {
    prepare(sql: string): Statement {
      const cached = cache.get(sql);
      if (cached !== undefined) {
        if (cached.busy) return sqlite.prepare(sql);
        return cached;
      }
      const statement = sqlite.prepare(sql);
      if (cache.size >= size) cache.delete(cache.keys().next().value!);
      cache.set(sql, statement);
      return statement;
    },
    close(): void {
      cache.clear();
      sqlite.close();
    },
  };
}
