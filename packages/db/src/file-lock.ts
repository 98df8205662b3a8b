import Database from 'better-sqlite3';

/** An exclusive lock on a file, held until `release()` or until the process ends. */
export interface FileLock {
  readonly path: string;
  /** Gives the lock up. Idempotent. */
  release(): void;
}

/**
 * Takes an exclusive lock on `path` (created if missing, empty) at once, or returns `null` when someone —
 * another process, or another holder in this one — has it. The lock is SQLite's own: the file is opened as
 * a database of its own (rollback journal kept in memory, so no journal file appears) and held in an open
 * `BEGIN EXCLUSIVE` transaction, i.e. a POSIX byte-range lock on the file (LockFileEx on Windows), which the
 * operating system drops when the process dies, however it dies (SIGKILL included): a crashed holder never
 * leaves a stale lock. SQLite also tracks its locks per file within one process, so a second holder in the
 * same process is refused too. Used by the ledger's audit port: one writer process per SQLite file.
 *
 * @example
 * ```ts
 * const lock = tryLockFile(`${databaseFile}-writer`);
 * if (lock === null) throw new Error('another process writes this database');
 * // … serve; then
 * lock.release();
 * ```
 */
export function tryLockFile(path: string): FileLock | null {
  if (typeof path !== 'string' || path === '' || path === ':memory:') throw new TypeError('tryLockFile: "path" must be a file path');
  // No busy timeout: a held lock is an answer, not something to wait for.
  const handle = new Database(path, { timeout: 0 });
  try {
    handle.pragma('journal_mode = memory');
    handle.exec('begin exclusive');
  } catch (error) {
    handle.close();
    if ((error as { code?: unknown }).code === 'SQLITE_BUSY') return null;
    throw error;
  }
  let held = true;
  return Object.freeze({
    path,
    release(): void {
      if (!held) return;
      held = false;
      handle.exec('rollback');
      handle.close();
    },
  });
}
