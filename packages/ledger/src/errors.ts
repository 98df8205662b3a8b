/**
 * Why ledger failures are plain `Error` subclasses and not `SecurityError`s (@covenant/core):
 * a `SecurityError` fixes an HTTP status and a wire message because it describes a *client's* request
 * being refused. A proof, note or bundle that fails to verify is something else: the verifier runs
 * offline (the CLI, a third-party auditor, a witness) where there is no HTTP at all, and on the server a
 * failing proof over our own log is an integrity incident, not a 4xx to hand back to whoever asked.
 * Whoever catches these decides what they mean in their context. What we keep from the house style is a
 * base class, one subclass per family, and a literal `code` per failure.
 */

/** An inclusion or consistency proof does not verify (RFC 9162 §2.1.3.2, §2.1.4.2). */
export type ProofErrorCode =
  /** leafIndex ≥ treeSize. */
  | 'ERR_LEDGER_PROOF_INDEX_OUT_OF_RANGE'
  /** size1 > size2. */
  | 'ERR_LEDGER_PROOF_SIZE_ORDER'
  /** size1 = 0: every tree extends the empty tree, so such a "proof" proves nothing and is refused. */
  | 'ERR_LEDGER_PROOF_EMPTY_TREE'
  /** The proof has more or fewer hashes than the sizes dictate (including a non-empty proof for size1 = size2). */
  | 'ERR_LEDGER_PROOF_LENGTH'
  /** A proof hash, leaf hash or root is not 32 bytes. */
  | 'ERR_LEDGER_PROOF_HASH_LENGTH'
  /** The recomputed root differs from the expected one. */
  | 'ERR_LEDGER_PROOF_ROOT_MISMATCH';

/** A C2SP signed note does not open (c2sp.org/signed-note). */
export type NoteErrorCode =
  /** Not a well-formed signed note: control characters (CR …), no final newline, no blank line, bad signature line or base64, too many signatures. */
  | 'ERR_LEDGER_NOTE_MALFORMED'
  /** No signature line carries the expected key name. */
  | 'ERR_LEDGER_NOTE_UNKNOWN_KEY'
  /** A signature line carries the expected key name but another key id. */
  | 'ERR_LEDGER_NOTE_KEY_ID_MISMATCH'
  /** A signature from the expected key (name and id) does not verify under strict RFC 8032 Ed25519. */
  | 'ERR_LEDGER_NOTE_SIGNATURE_INVALID';

/** A signed note opened, but its text is not a checkpoint we accept (c2sp.org/tlog-checkpoint). */
export type CheckpointErrorCode =
  /** Not exactly three non-empty lines (origin, size, root), or extension lines. */
  | 'ERR_LEDGER_CHECKPOINT_MALFORMED'
  /** The size is not canonical decimal ("01", "+1", "1e3") or exceeds Number.MAX_SAFE_INTEGER. */
  | 'ERR_LEDGER_CHECKPOINT_SIZE_INVALID'
  /** The root is not canonical standard base64 of exactly 32 bytes. */
  | 'ERR_LEDGER_CHECKPOINT_ROOT_INVALID'
  /** The checkpoint is for another origin than the one expected. */
  | 'ERR_LEDGER_CHECKPOINT_ORIGIN_MISMATCH';

/** An offline inclusion bundle does not verify. Its note, checkpoint and proof failures keep their own codes. */
export type BundleErrorCode =
  /** Not `{ version: 1, origin, leafIndex, treeSize, leafHash, proof, checkpoint }` with the right types. */
  | 'ERR_LEDGER_BUNDLE_MALFORMED'
  /** The bundle's origin differs from its checkpoint's. */
  | 'ERR_LEDGER_BUNDLE_ORIGIN_MISMATCH'
  /** The bundle's treeSize differs from its checkpoint's size. */
  | 'ERR_LEDGER_BUNDLE_SIZE_MISMATCH'
  /** The entry given to the verifier does not hash to the bundle's leafHash. */
  | 'ERR_LEDGER_BUNDLE_ENTRY_MISMATCH';

/**
 * A stored log (the SQLite tables of 0002-ledger) is not what its signed checkpoints commit to, or the
 * store cannot be opened or written. Returned by `verifyLedger` with the first bad index, thrown by the store.
 */
export type LogErrorCode =
  /** A stored body is not the canonical encoding of a valid entry (docs/ledger.md "Entries"). */
  | 'ERR_LEDGER_LOG_ENTRY_MALFORMED'
  /** A row is missing (the sequence numbers have a gap) or a body's `seq` is not its row's. */
  | 'ERR_LEDGER_LOG_SEQ_MISMATCH'
  /** The stored leaf hash is not SHA-256(0x00 ‖ body). */
  | 'ERR_LEDGER_LOG_LEAF_MISMATCH'
  /** The tree rebuilt from the entries does not have the root a checkpoint signed. */
  | 'ERR_LEDGER_LOG_ROOT_MISMATCH'
  /** A checkpoint row's size column differs from its note, or sizes do not grow. */
  | 'ERR_LEDGER_LOG_CHECKPOINT_ORDER'
  /** A checkpoint covers more entries than the log holds (entries were deleted from the tail). */
  | 'ERR_LEDGER_LOG_TRUNCATED'
  /** Entries after the last checkpoint: no signature covers them. */
  | 'ERR_LEDGER_LOG_UNSEALED'
  /** A row's unhashed column (an entry's `seq`, `kind`, `request_id` or `at`; a checkpoint's `root`) says something else than its body or note. */
  | 'ERR_LEDGER_LOG_INDEX_MISMATCH'
  /** An entry's `at` is earlier than the `at` of the entry before it (the writer keeps them monotonic). */
  | 'ERR_LEDGER_LOG_TIME_ORDER'
  /** The store's state file (the highest head it holds the log to) is malformed, of another origin or key, or writable by others. */
  | 'ERR_LEDGER_LOG_STATE_INVALID'
  /** A committed head could not be recorded in the state file: the store stopped, as after a crash, rather than answer for it. */
  | 'ERR_LEDGER_LOG_STATE_UNWRITABLE'
  /** The store was used after `close()`. */
  | 'ERR_LEDGER_LOG_CLOSED'
  /** `append` on a store opened without a signer. */
  | 'ERR_LEDGER_LOG_READ_ONLY'
  /** A unit of work tried to end or leave the batch's transaction (`transaction()`, `connection()`, a raw COMMIT or ROLLBACK): refused. */
  | 'ERR_LEDGER_LOG_UNIT_TRANSACTION';

/** Every ledger failure code. */
export type LedgerErrorCode = ProofErrorCode | NoteErrorCode | CheckpointErrorCode | BundleErrorCode | LogErrorCode;

/**
 * A failure as data. `message` names the field that failed, never a key or an entry's content.
 *
 * @example
 * ```ts
 * const result = verifyInclusion(input);
 * if (!result.ok) log.warn({ code: result.code }, result.message);
 * ```
 */
export interface LedgerFailure<Code extends LedgerErrorCode = LedgerErrorCode> {
  readonly ok: false;
  readonly code: Code;
  readonly message: string;
}

/**
 * The base of every ledger failure thrown by an `assert…` function.
 *
 * @example
 * ```ts
 * try {
 *   assertInclusion(input);
 * } catch (error) {
 *   if (error instanceof LedgerError) alert(error.code);
 *   else throw error;
 * }
 * ```
 */
export abstract class LedgerError extends Error {
  abstract readonly code: LedgerErrorCode;
}

/**
 * An inclusion or consistency proof failed.
 *
 * @example
 * ```ts
 * assertConsistency({ size1: 3, size2: 2, root1, root2, proof: [] }); // throws ProofError ERR_LEDGER_PROOF_SIZE_ORDER
 * ```
 */
export class ProofError extends LedgerError {
  override readonly name = 'ProofError';
  readonly code: ProofErrorCode;

  constructor(code: ProofErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

/**
 * A signed note failed to open.
 *
 * @example
 * ```ts
 * assertCheckpoint(noteSignedByAnotherKey, { name, publicKey }); // throws NoteError ERR_LEDGER_NOTE_KEY_ID_MISMATCH
 * ```
 */
export class NoteError extends LedgerError {
  override readonly name = 'NoteError';
  readonly code: NoteErrorCode;

  constructor(code: NoteErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

/**
 * A signed note's text is not an acceptable checkpoint.
 *
 * @example
 * ```ts
 * assertCheckpoint(note, { name, publicKey, origin: 'other.example/log' }); // throws CheckpointError ERR_LEDGER_CHECKPOINT_ORIGIN_MISMATCH
 * ```
 */
export class CheckpointError extends LedgerError {
  override readonly name = 'CheckpointError';
  readonly code: CheckpointErrorCode;

  constructor(code: CheckpointErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

/**
 * An offline bundle is malformed or inconsistent with its checkpoint or entry.
 *
 * @example
 * ```ts
 * assertBundle({ ...bundle, treeSize: bundle.treeSize + 1 }, key); // throws BundleError ERR_LEDGER_BUNDLE_SIZE_MISMATCH
 * ```
 */
export class BundleError extends LedgerError {
  override readonly name = 'BundleError';
  readonly code: BundleErrorCode;

  constructor(code: BundleErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

/**
 * A stored log failed to open, verify or accept an append.
 *
 * @example
 * ```ts
 * await createLedgerStore({ db, origin, signer }); // throws LogError ERR_LEDGER_LOG_ROOT_MISMATCH on a tampered file
 * ```
 */
export class LogError extends LedgerError {
  override readonly name = 'LogError';
  readonly code: LogErrorCode;

  constructor(code: LogErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }
}

/**
 * Narrows an unknown caught value.
 *
 * @example
 * ```ts
 * if (isLedgerError(error)) metrics.increment(error.code);
 * ```
 */
export function isLedgerError(value: unknown): value is LedgerError {
  return value instanceof LedgerError;
}

/** The thrown form of a failure, in the class of its family. */
export function toLedgerError(failure: LedgerFailure): LedgerError {
  const { code, message } = failure;
  if (isCode<ProofErrorCode>(code, 'ERR_LEDGER_PROOF_')) return new ProofError(code, message);
  if (isCode<NoteErrorCode>(code, 'ERR_LEDGER_NOTE_')) return new NoteError(code, message);
  if (isCode<CheckpointErrorCode>(code, 'ERR_LEDGER_CHECKPOINT_')) return new CheckpointError(code, message);
  if (isCode<LogErrorCode>(code, 'ERR_LEDGER_LOG_')) return new LogError(code, message);
  return new BundleError(code as BundleErrorCode, message);
}

function isCode<Code extends LedgerErrorCode>(code: LedgerErrorCode, prefix: string): code is Code {
  return code.startsWith(prefix);
}

/** Builds a frozen failure record. */
export function failure<Code extends LedgerErrorCode>(code: Code, message: string): LedgerFailure<Code> {
  return Object.freeze({ ok: false as const, code, message });
}
