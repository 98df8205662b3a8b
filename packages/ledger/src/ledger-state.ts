import { randomBytes } from 'node:crypto';
import { lstatSync, readFileSync, statSync, type Stats } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { verifyCheckpoint, type CheckpointVerifierKey } from './checkpoint.ts';
import { LogError } from './errors.ts';
import type { SignedCheckpoint } from './ledger-store.ts';

/**
 * The store's memory outside the database (internal; see `LedgerStoreOptions.stateFile`): the highest
 * checkpoint it has signed or verified, as its C2SP signed note. A log that is later found shorter than
 * that, or with another root at that size, was truncated or replaced behind the store's back, and the
 * store refuses it instead of signing that size a second time.
 */
export interface LedgerState {
  /** The recorded head (its note verified with the log's key and origin), or `null` before the first. */
  readonly head: SignedCheckpoint | null;
  /**
   * Records `head` if it is larger than the recorded one: written to a temporary file beside the state
   * file, fsync'd, renamed over it, and the folder fsync'd, so that a crash leaves the old note or the new
   * one, never a torn file. Records run one after another; a smaller or equal head changes nothing.
   */
  record(head: SignedCheckpoint): Promise<void>;
}

/** Larger than any checkpoint note we write (origin ≤ a few hundred bytes, one signature line). */
const MAX_STATE_BYTES = 16_384;

/**
 * Opens the state file at `path` (it need not exist yet: a store's first start records its first head).
 * Refuses (LogError `ERR_LEDGER_LOG_STATE_INVALID`) a file that group or others may write or another user
 * owns, in a folder others may write, that is not a regular file (a symbolic link included), or whose
 * content is not one checkpoint note of this origin that verifies with `key`.
 */
export function openLedgerState(path: string, key: CheckpointVerifierKey): LedgerState {
  let head = readState(path, key);
  let last: Promise<void> = Promise.resolve();
  const write = async (next: SignedCheckpoint): Promise<void> => {
    if (head !== null && next.checkpoint.size <= head.checkpoint.size) return;
    await writeAtomically(path, next.note);
    head = next;
  };
  return {
    get head() {
      return head;
    },
    record(next: SignedCheckpoint): Promise<void> {
      const done = last.then(() => write(next));
      // The chain goes on after a failure; the caller sees it.
      last = done.catch(() => undefined);
      return done;
    },
  };
}

function readState(path: string, key: CheckpointVerifierKey): SignedCheckpoint | null {
  checkFolder(path);
  let text: string;
  try {
    // lstat: a symbolic link is refused, not followed (the store replaces the file by renaming over it).
    const stat = lstatSync(path);
    if (!stat.isFile()) throw invalid(path, 'is not a regular file');
    // Whoever may rewrite it may wind the store back to an older head (or stop it): the service's user only.
    if (POSIX && (stat.mode & 0o022) !== 0) throw invalid(path, 'must be writable by its owner only (chmod 600)');
    if (POSIX && stat.uid !== process.getuid!()) throw invalid(path, `must be owned by the user the service runs as (uid ${process.getuid!()}), not uid ${stat.uid}`);
    if (stat.size > MAX_STATE_BYTES) throw invalid(path, 'is too large to be a checkpoint note');
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if (error instanceof LogError) throw error;
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw invalid(path, `cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  const result = verifyCheckpoint(text, key);
  if (!result.ok) throw invalid(path, `is not a checkpoint of ${key.origin ?? key.name} signed with the log's key (${result.code})`);
  return Object.freeze({ checkpoint: result.checkpoint, note: text });
}

const POSIX = process.platform !== 'win32';

/**
 * Whoever may write the state file's folder may rename another file over it — an older note the log's key
 * did sign, which winds the store back to accept a truncated log — or create it before the first start:
 * the folder must be writable by its owner only (or sticky, like /tmp, where only a file's owner may
 * replace it), owned by the service's user or root. As ssh's StrictModes; a missing folder is left to the
 * first write, which fails loudly.
 */
function checkFolder(path: string): void {
  if (!POSIX) return;
  const folder = dirname(path);
  let stat: Stats;
  try {
    stat = statSync(folder);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw invalid(path, `has a folder that cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  const uid = process.getuid!();
  if (stat.uid !== uid && stat.uid !== 0) throw invalid(path, `is in ${folder}, owned by uid ${stat.uid}: its owner could replace the file`);
  if ((stat.mode & 0o022) !== 0 && (stat.mode & 0o1000) === 0) {
    throw invalid(path, `is in ${folder}, which group or others may write: they could replace the file (chmod go-w)`);
  }
}

function invalid(path: string, problem: string): LogError {
  return new LogError('ERR_LEDGER_LOG_STATE_INVALID', `the ledger state file ${path} ${problem}`);
}

async function writeAtomically(path: string, text: string): Promise<void> {
  const folder = dirname(path);
  const temporary = join(folder, `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    const file = await open(temporary, 'wx', 0o600);
    try {
      await file.writeFile(text, 'utf8');
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true }).catch(() => undefined);
    throw new LogError('ERR_LEDGER_LOG_STATE_UNWRITABLE', `cannot record the signed head in the ledger state file ${path} (${(error as NodeJS.ErrnoException).code ?? 'error'})`, {
      cause: error,
    });
  }
  // The rename is durable only once the folder's entry is: fsync the folder (POSIX; Windows cannot open one).
  if (process.platform === 'win32') return;
  try {
    const dir = await open(folder, 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  } catch (error) {
    throw new LogError('ERR_LEDGER_LOG_STATE_UNWRITABLE', `cannot make the ledger state file ${path} durable (${(error as NodeJS.ErrnoException).code ?? 'error'})`, {
      cause: error,
    });
  }
}
