import { randomInt } from 'node:crypto';
import { ADVISORY_LOCKS, tryLockFile, type FileLock } from '@covenant/db';
import { sql, type Kysely } from 'kysely';

/**
 * One writer process per SQLite database file (ADR 0010): the audit port holds an exclusive lock on the
 * sidecar file `<database file>-writer` for its life (`tryLockFile`: SQLite's own file lock, dropped by the
 * operating system when the process ends, SIGKILL included). A second port — another process, or another
 * port in this one — is refused at start-up (`WriterBusyError`), before its recovery could close the first
 * one's open calls. `null` for an in-memory database, which no other process can open.
 */
export async function acquireSqliteWriterLock(db: Kysely<any>): Promise<FileLock | null> {
  const { rows } = await sql<{ file: string | null }>`select file from pragma_database_list where name = 'main'`.execute(db);
  const file = rows[0]?.file ?? '';
  if (file === '') return null;
  const lock = tryLockFile(`${file}-writer`);
  if (lock === null) throw new WriterBusyError(file);
  return lock;
}

/** Another audit port (another process, most likely) already writes this SQLite database. */
export class WriterBusyError extends Error {
  override readonly name = 'WriterBusyError';
  readonly code = 'ERR_LEDGER_WRITER_BUSY' as const;
  constructor(file: string) {
    super(`another ledger writer holds ${file}-writer: one writer process per SQLite database file (stop the other process first)`);
  }
}

/**
 * Writer liveness on PostgreSQL (ADR 0010): an audit port holds the session-level advisory lock
 * `pg_advisory_lock(ADVISORY_LOCKS.writers, key)` on a connection of its own for as long as it lives. The
 * lock goes when that connection ends (the process crashed, was killed, or closed the port), so "can I take
 * this writer's lock?" answers "is that writer gone?" without clocks or leases.
 */
export interface WriterLock {
  /** The id recorded in this writer's intents: `pg:<key>`. */
  readonly id: string;
  readonly key: number;
  /**
   * Throws `WriterLockLostError` unless this writer's lock is still held by its own session (one query).
   * Run inside the ledger's batch transaction (`conn`): recovery closes a writer's intents only in a batch
   * of its own, after taking the lock, so an outcome appended after this check passed cannot race an
   * `aborted` one. A failed check is remembered: a lost lock never comes back (see `assertNotLost`).
   */
  assertHeld(conn: Kysely<any>): Promise<void>;
  /**
   * Throws `WriterLockLostError`, without a query, once the lock is known gone: released (`release()`), or
   * found lost by an earlier `assertHeld`. Passing it proves nothing more: only `assertHeld` does.
   */
  assertNotLost(): void;
  /** Unlocks and returns the connection to the pool. Idempotent. */
  release(): Promise<void>;
}

/** This writer's lock is gone (its connection ended): recovery may already have closed its intents. */
export class WriterLockLostError extends Error {
  override readonly name = 'WriterLockLostError';
  readonly code = 'ERR_LEDGER_WRITER_LOST' as const;
  constructor(id: string) {
    super(`the ledger writer lock of ${id} is no longer held; this writer may not append outcomes`);
  }
}

const WRITER_ID = /^pg:([1-9][0-9]{0,9})$/;
/** Keys are positive int4, so that pg_locks (which shows them as unsigned oids) shows them as they are. */
const MAX_KEY = 2 ** 31 - 1;

/** The writer lock key in a writer id, or `null` for anything else (an intent from before writer ids). */
export function writerKeyOf(id: unknown): number | null {
  if (typeof id !== 'string') return null;
  const match = WRITER_ID.exec(id);
  if (match === null) return null;
  const key = Number(match[1]);
  return key <= MAX_KEY ? key : null;
}

const lit = (n: number) => sql.lit(n);

/**
 * Takes a fresh writer lock: a random key not named by any open intent (`avoid`) whose lock is free. The
 * connection is held (out of `db`'s pool) until `release()`.
 */
export async function acquireWriterLock(db: Kysely<any>, avoid: ReadonlySet<number>): Promise<WriterLock> {
  let finish!: () => void;
  const finished = new Promise<void>((resolve) => {
    finish = resolve;
  });
  let onTaken!: (value: { key: number; pid: number }) => void;
  let onFailed!: (error: unknown) => void;
  const taken = new Promise<{ key: number; pid: number }>((resolve, reject) => {
    onTaken = resolve;
    onFailed = reject;
  });
  const holding = db
    .connection()
    .execute(async (conn) => {
      let key = 0;
      try {
        const pid = (await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(conn)).rows[0]!.pid;
        for (let attempt = 0; ; attempt += 1) {
          if (attempt >= 64) throw new Error('acquireWriterLock: no free writer key after 64 attempts');
          const candidate = randomInt(1, MAX_KEY + 1);
          if (avoid.has(candidate)) continue;
          const result = await sql<{ ok: boolean }>`select pg_try_advisory_lock(${lit(ADVISORY_LOCKS.writers)}, ${lit(candidate)}) as ok`.execute(conn);
          if (result.rows[0]!.ok === true) {
            key = candidate;
            onTaken({ key, pid });
            break;
          }
        }
      } catch (error) {
        onFailed(error);
        return;
      }
      await finished;
      // If the connection died, the lock died with it; nothing to unlock.
      await sql`select pg_advisory_unlock(${lit(ADVISORY_LOCKS.writers)}, ${lit(key)})`.execute(conn).catch(() => undefined);
    })
    .catch(() => undefined);
  const { key, pid } = await taken;
  const id = `pg:${key}`;
  let released = false;
  /** A check found the lock gone: its session ended, and a session lock never comes back. */
  let lost = false;
  // The check's SQL is the same every time (literals only): built once.
  const heldQuery = sql<{ held: boolean }>`select exists (
      select 1 from pg_locks
      where locktype = 'advisory' and granted and pid = ${lit(pid)}
        and classid = ${lit(ADVISORY_LOCKS.writers)} and objid = ${lit(key)} and objsubid = 2
        and database = (select oid from pg_database where datname = current_database())
    ) as held`;
  const assertNotLost = (): void => {
    if (released || lost) throw new WriterLockLostError(id);
  };
  return Object.freeze({
    id,
    key,
    assertNotLost,
    async assertHeld(conn: Kysely<any>): Promise<void> {
      assertNotLost();
      const result = await heldQuery.execute(conn);
      if (result.rows[0]?.held !== true) lost = true;
      assertNotLost();
    },
    async release(): Promise<void> {
      if (released) return;
      released = true;
      finish();
      await holding;
    },
  });
}

/**
 * Runs `work` while holding writer `key`'s lock, if it can be taken at once (the writer is gone): returns
 * `{ taken: false }` when the writer is alive. The lock is released before this returns.
 */
export async function withDeadWriter<T>(db: Kysely<any>, key: number, work: () => Promise<T>): Promise<{ taken: false } | { taken: true; value: T }> {
  return db.connection().execute(async (conn) => {
    const result = await sql<{ ok: boolean }>`select pg_try_advisory_lock(${lit(ADVISORY_LOCKS.writers)}, ${lit(key)}) as ok`.execute(conn);
    if (result.rows[0]!.ok !== true) return { taken: false as const };
    try {
      return { taken: true as const, value: await work() };
    } finally {
      await sql`select pg_advisory_unlock(${lit(ADVISORY_LOCKS.writers)}, ${lit(key)})`.execute(conn);
    }
  });
}
