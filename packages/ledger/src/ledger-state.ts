import { randomBytes } from 'node:crypto';
import { lstatSync, readFileSync, readlinkSync, type Stats } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
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
 * verifies with `key`. The real path found at open is the one read and written from then on.
 */
export function openLedgerState(path: string, key: CheckpointVerifierKey): LedgerState {
  // Pinned: every read and write goes to the place checked, whatever the cwd is or a link points to later.
  const file = checkFolders(path);
  let head = readState(path, file, key);
  let last: Promise<void> = Promise.resolve();
  const write = async (next: SignedCheckpoint): Promise<void> => {
    if (head !== null && next.checkpoint.size <= head.checkpoint.size) return;
    await writeAtomically(path, file, next.note);
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

/** Reads the state file at `file` (its checked real path; `path` as given names it in errors). */
function readState(path: string, file: string, key: CheckpointVerifierKey): SignedCheckpoint | null {
  let text: string;
  try {
    // lstat: a symbolic link is refused, not followed (the store replaces the file by renaming over it).
    const stat = lstatSync(file);
    if (!stat.isFile()) throw invalid(path, 'is not a regular file');
    // Whoever may rewrite it may wind the store back to an older head (or stop it): the service's user only.
    if (POSIX && (stat.mode & 0o022) !== 0) throw invalid(path, 'must be writable by its owner only (chmod 600)');
    if (POSIX && stat.uid !== process.getuid!()) throw invalid(path, `must be owned by the user the service runs as (uid ${process.getuid!()}), not uid ${stat.uid}`);
    if (stat.size > MAX_STATE_BYTES) throw invalid(path, 'is too large to be a checkpoint note');
    text = readFileSync(file, 'utf8');
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
/** As Linux's MAXSYMLINKS: more links than this on one path is a loop, or as good as one (ELOOP). */
const MAX_LINKS = 40;

/**
 * Whoever may replace the state file may wind the store back: rename over it an older note the log's key did
 * sign (the store then accepts the log truncated to it), or plant one, or swap the folder that holds it.
 * So `path` is walked as the kernel walks it — one component at a time from the root (from the working
 * folder for a relative path), each symbolic link followed where it points (an absolute target from the
 * root again, a relative one from the link's folder), each `..` taken to the parent of the real folder
 * reached so far (after a link, the target's parent, not the folder before the link) — and every real
 * folder on that walk must be owned by the service's user or root and not be writable by group or others
 * unless sticky (like /tmp, where only an entry's owner may rename it), and every symbolic link on it owned
 * by them too (the folder holding it is on the walk). As ssh's StrictModes. The folder must exist: whoever
 * created it later would own the head. Checked once, at open: afterwards only those owners can change any
 * of it. Returns the real absolute path of the file (its folder's real path and its name), which is the one
 * read and written from then on, so that a later `process.chdir()` or a changed link moves nothing.
 */
function checkFolders(path: string): string {
  const name = basename(path);
  if (name === '' || name === '.' || name === '..' || path.endsWith('/') || (!POSIX && path.endsWith('\\'))) throw invalid(path, 'does not name a file');
  if (!POSIX) return resolve(path);
  let start: string;
  try {
    start = isAbsolute(path) ? '' : process.cwd();
  } catch (error) {
    throw invalid(path, `is relative to a working folder that cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  const uid = process.getuid!();
  const check = (place: string, stat: Stats): void => {
    if (stat.uid !== uid && stat.uid !== 0) {
      throw invalid(path, `is under ${place}, owned by uid ${stat.uid}: its owner could ${stat.isSymbolicLink() ? 'point it elsewhere' : 'replace the file'}`);
    }
    // A link's own mode means nothing (who may change it is decided by its folder, which is on the walk).
    if (!stat.isSymbolicLink() && (stat.mode & 0o022) !== 0 && (stat.mode & 0o1000) === 0) {
      throw invalid(path, `is under ${place}, which group or others may write: they could replace the file (chmod go-w)`);
    }
  };
  check('/', statOf(path, '/'));
  // The real folders reached so far, from the root (each one checked), and the components still to walk.
  const real: string[] = [];
  // Not `join`/`resolve`: they drop a `..` with the component before it, a link included.
  const pending = [...components(start), ...components(path).slice(0, -1)];
  let links = 0;
  for (let next = pending.shift(); next !== undefined; next = pending.shift()) {
    if (next === '.') continue;
    if (next === '..') {
      real.pop(); // the root's parent is the root
      continue;
    }
    const place = `/${[...real, next].join('/')}`;
    const stat = statOf(path, place);
    if (stat.isSymbolicLink()) {
      check(place, stat);
      if (++links > MAX_LINKS) throw invalid(path, `has too many symbolic links on its way (more than ${MAX_LINKS}; a loop?)`);
      let target: string;
      try {
        target = readlinkSync(place);
      } catch (error) {
        throw invalid(path, `is under ${place}, which cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
      }
      if (isAbsolute(target)) real.length = 0;
      pending.unshift(...components(target));
      continue;
    }
    if (!stat.isDirectory()) throw invalid(path, `is under ${place}, which is not a folder`);
    check(place, stat);
    real.push(next);
  }
  return join(`/${real.join('/')}`, name);
}

/** The non-empty components of `path` (`.` and `..` kept: the walk takes them where it is). */
function components(path: string): string[] {
  return path.split('/').filter((part) => part !== '');
}

/** `lstat` of a place on the walk, refusing (with the reason) one that is missing or cannot be read. */
function statOf(path: string, place: string): Stats {
  try {
    return lstatSync(place);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    throw invalid(path, code === 'ENOENT' ? `has no folder ${place}: create it (mode 0700) first` : `is under ${place}, which cannot be read (${code})`);
  }
}

function invalid(path: string, problem: string): LogError {
  return new LogError('ERR_LEDGER_LOG_STATE_INVALID', `the ledger state file ${path} ${problem}`);
}

async function writeAtomically(path: string, file: string, text: string): Promise<void> {
  const folder = dirname(file);
  const temporary = join(folder, `.${basename(file)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    const handle = await open(temporary, 'wx', 0o600);
    try {
      await handle.writeFile(text, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temporary, file);
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
