import { PostgresAdapter, SqliteAdapter, sql, type Kysely } from 'kysely';

/** The SQL dialects the stores support. */
export type Dialect = 'sqlite' | 'postgres';

/**
 * Which dialect `db` speaks (any kysely handle: the instance, a transaction, a connection, a plugin view).
 * Stores and migrations branch on it in the few places where SQLite and PostgreSQL differ (locks,
 * snapshots, DDL). Anything else is refused rather than guessed.
 */
export function dialectOf(db: Kysely<any>): Dialect {
  const adapter: unknown = db.getExecutor().adapter;
  if (adapter instanceof SqliteAdapter) return 'sqlite';
  if (adapter instanceof PostgresAdapter) return 'postgres';
  throw new TypeError(`dialectOf: unsupported kysely dialect (${(adapter as object)?.constructor?.name ?? typeof adapter})`);
}

/**
 * PostgreSQL advisory locks taken by Covenant, in the two-key form `pg_advisory_xact_lock(namespace, key)`:
 * that key space is separate from the one-`bigint` form applications usually use, and the namespace
 * (`0x43564e54`, ASCII "CVNT") keeps them apart from other two-key users. Transaction-scoped: released at
 * commit or rollback, never leaked by a crashed process. The one exception, `writers`, is a namespace of
 * session-level locks (released when their connection ends, so a crashed process cannot leak one either).
 */
export const ADVISORY_LOCKS = Object.freeze({
  namespace: 0x43564e54,
  /** `migrateToLatest`: one migrator at a time. */
  migrations: 1,
  /** The ledger's single writer: entries are sequenced inside it (@covenant/ledger). */
  ledgerWriter: 2,
  /**
   * Writer liveness (@covenant/ledger/audit, ADR 0010), a namespace of its own (`0x43564e57`, "CVNW"): each
   * audit port holds the SESSION-level lock `pg_advisory_lock(writers, writerKey)` on a dedicated connection
   * for its lifetime (`writerKey` a random positive int4, recorded in its intents as `writer: "pg:<key>"`).
   * Start-up recovery tries `pg_try_advisory_lock(writers, key)` for each open intent's writer: only a
   * writer whose session is gone (crashed, or closed) can be taken, and only its intents are closed.
   */
  writers: 0x43564e57,
});

/**
 * Waits for Covenant's advisory lock `key` (see `ADVISORY_LOCKS`) until the enclosing transaction ends.
 * PostgreSQL only; `conn` must be one connection inside a transaction.
 */
export async function lockAdvisory(conn: Kysely<any>, key: number): Promise<void> {
  // Literals, not parameters: untyped parameters would make pg_advisory_xact_lock's overloads ambiguous.
  await sql`select pg_advisory_xact_lock(${sql.lit(ADVISORY_LOCKS.namespace)}, ${sql.lit(key)})`.execute(conn);
}

/**
 * Opens a read transaction on `conn` (one connection) whose statements all see one committed state: on
 * SQLite a deferred `begin` (WAL gives the transaction one snapshot from its first read), on PostgreSQL
 * `repeatable read` (its default, read committed, takes a new snapshot per statement). End it with
 * `commit` or `rollback`.
 */
export async function beginSnapshot(conn: Kysely<any>): Promise<void> {
  if (dialectOf(conn) === 'postgres') await sql`begin isolation level repeatable read`.execute(conn);
  else await sql`begin`.execute(conn);
}
