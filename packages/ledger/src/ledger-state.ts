import { randomBytes } from 'node:crypto';
import { lstatSync, readFileSync, realpathSync, type Stats } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
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
 * owns, under a folder someone else could change (see `checkFolders`) or in none, that is not a regular
 * file (a symbolic link included), or whose content is not one checkpoint note of this origin that
 * verifies with `key`.
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
  checkFolders(path);
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
 * Whoever may replace the state file may wind the store back: rename over it an older note the log's key did
 * sign (the store then accepts the log truncated to it), or plant one, or swap the folder that holds it.
 * So every folder from the root down to the file's — along the path as written and as it resolves — must
 * be owned by the service's user or root and not be writable by group or others unless sticky (like /tmp,
 * where only an entry's owner may rename it), and every symbolic link on the way must be owned by them too.
 * As ssh's StrictModes. The folder must exist: whoever created it later would own the head. Checked once, at
 * open: afterwards only those owners can change any of it.
 */
function checkFolders(path: string): void {
  if (!POSIX) return;
  const folder = resolve(dirname(path));
  let real: string;
  try {
    real = realpathSync(folder);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    throw invalid(path, code === 'ENOENT' ? `has no folder ${folder}: create it (mode 0700) first` : `has a folder that cannot be resolved (${code})`);
  }
  const uid = process.getuid!();
  for (const place of new Set([...folderChain(folder), ...folderChain(real)])) {
    let stat: Stats;
    try {
      stat = lstatSync(place);
    } catch (error) {
      throw invalid(path, `is under ${place}, which cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
    }
    if (stat.uid !== uid && stat.uid !== 0) throw invalid(path, `is under ${place}, owned by uid ${stat.uid}: its owner could replace the file`);
    // A link's own mode means nothing (who may change it is decided by its folder, which is in the chain).
    if (!stat.isSymbolicLink() && (stat.mode & 0o022) !== 0 && (stat.mode & 0o1000) === 0) {
      throw invalid(path, `is under ${place}, which group or others may write: they could replace the file (chmod go-w)`);
    }
  }
}

/** `folder` (absolute) and every folder above it, up to the root. */
function folderChain(folder: string): string[] {
  const chain = [folder];
  for (let place = folder; dirname(place) !== place; place = dirname(place)) chain.push(dirname(place));
  return chain;
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
