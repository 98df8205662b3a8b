import { decodeBase64, encodeBase64, isWellFormed, utf8 } from './encoding.ts';
import { failure, toLedgerError } from './errors.ts';
import type { CheckpointErrorCode, LedgerFailure, NoteErrorCode } from './errors.ts';
import { KEYED_DIGEST_PREFIX, deriveDigestKey, keyedDigest } from './keyed-digest.ts';
import { HASH_SIZE } from './merkle-hash.ts';
import { createNoteSigner, openNoteWith } from './signed-note.ts';
import type { NoteSignerOptions, NoteVerifierKey, SignatureCheck } from './signed-note.ts';

/**
 * Checkpoints per c2sp.org/tlog-checkpoint: the note text is exactly
 * `<origin>\n<decimal tree size>\n<base64 root hash>\n`, signed as a C2SP signed note (signed-note.ts).
 * We never produce extension lines and we refuse them when verifying: the spec calls them NOT
 * RECOMMENDED (monitors cannot audit them) and a verifier that returns only (origin, size, root) must not
 * silently drop signed content.
 */

/** A log's commitment to its first `size` entries. */
export interface Checkpoint {
  /** The log identity, e.g. `audit.example/prod`. */
  readonly origin: string;
  readonly size: number;
  /** MTH(D[0:size]), 32 bytes. */
  readonly root: Uint8Array;
}

/** Signs checkpoints with one Ed25519 key. */
export interface CheckpointSigner {
  readonly name: string;
  readonly keyId: Uint8Array;
  readonly publicKey: Uint8Array;
  /** The signed note text of `checkpoint`. */
  sign(checkpoint: Checkpoint): string;
  /**
   * The ledger's keyed digest of `text` (`hmac-sha256:<hex>`, keyed-digest.ts): how the log records a value
   * it must not hold in the clear, so that nobody without this key can confirm a guess against it.
   */
  digest(text: string): string;
}

/** Options of {@link createCheckpointSigner}. */
export interface CheckpointSignerOptions extends NoteSignerOptions {
  /**
   * Another HMAC-SHA256 for the digest key (e.g. node:crypto's); checked against @noble/hashes once, at
   * creation. Defaults to noble (portable).
   */
  readonly macBytes?: (key: Uint8Array, message: Uint8Array) => Uint8Array;
}

/** The trusted key, and optionally the origin the caller expects (strongly recommended). */
export interface CheckpointVerifierKey extends NoteVerifierKey {
  readonly origin?: string;
}

/** The outcome of {@link verifyCheckpoint}. */
export type CheckpointResult =
  | { readonly ok: true; readonly checkpoint: Checkpoint }
  | LedgerFailure<NoteErrorCode | CheckpointErrorCode>;

const CANONICAL_DECIMAL = /^(?:0|[1-9][0-9]*)$/;
const CONTROL = /[\u0000-\u001F]/;

/**
 * The checkpoint note text, `<origin>\n<size>\n<base64 root>\n`. Invalid input throws `TypeError`.
 *
 * @example
 * ```ts
 * formatCheckpoint({ origin: 'audit.example/log', size: 0, root: EMPTY_ROOT });
 * // 'audit.example/log\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n'
 * ```
 */
export function formatCheckpoint(checkpoint: Checkpoint): string {
  const { origin, size, root } = checkpoint;
  if (typeof origin !== 'string' || origin.length === 0 || !isWellFormed(origin) || CONTROL.test(origin)) {
    throw new TypeError('origin must be a non-empty single line without control characters');
  }
  if (!Number.isSafeInteger(size) || size < 0) throw new TypeError('size must be a non-negative safe integer');
  if (!(root instanceof Uint8Array) || root.length !== HASH_SIZE) throw new TypeError('root must be a 32-byte Uint8Array');
  return `${origin}\n${size}\n${encodeBase64(root)}\n`;
}

/**
 * Parses checkpoint note text (already verified) into a {@link Checkpoint}, refusing anything but the
 * three canonical lines.
 *
 * @example
 * ```ts
 * const parsed = parseCheckpoint('audit.example/log\n01\n…\n'); // { ok: false, code: 'ERR_LEDGER_CHECKPOINT_SIZE_INVALID', … }
 * ```
 */
export function parseCheckpoint(text: string): CheckpointResult {
  if (typeof text !== 'string') throw new TypeError('text must be a string');
  if (!text.endsWith('\n')) return failure('ERR_LEDGER_CHECKPOINT_MALFORMED', 'the checkpoint must end with a newline');
  const lines = text.slice(0, -1).split('\n');
  if (lines.length < 3) return failure('ERR_LEDGER_CHECKPOINT_MALFORMED', 'the checkpoint must have origin, size and root lines');
  if (lines.length > 3) return failure('ERR_LEDGER_CHECKPOINT_MALFORMED', 'extension lines are not accepted');
  const [origin = '', sizeText = '', rootText = ''] = lines;
  if (origin.length === 0 || CONTROL.test(origin)) return failure('ERR_LEDGER_CHECKPOINT_MALFORMED', 'the origin line must be non-empty');
  if (!CANONICAL_DECIMAL.test(sizeText)) {
    return failure('ERR_LEDGER_CHECKPOINT_SIZE_INVALID', 'the size must be decimal without sign or leading zeros');
  }
  const size = Number(sizeText);
  if (!Number.isSafeInteger(size)) return failure('ERR_LEDGER_CHECKPOINT_SIZE_INVALID', 'the size exceeds 2^53 - 1');
  const root = decodeBase64(rootText);
  if (root === undefined || root.length !== HASH_SIZE) {
    return failure('ERR_LEDGER_CHECKPOINT_ROOT_INVALID', 'the root must be canonical base64 of 32 bytes');
  }
  return Object.freeze({ ok: true as const, checkpoint: Object.freeze({ origin, size, root }) });
}

/**
 * Creates a checkpoint signer from a 32-byte Ed25519 private key (RFC 8032 seed). The key name
 * SHOULD equal the origin (tlog-checkpoint), which is the caller's choice, not enforced here.
 *
 * @example
 * ```ts
 * const signer = createCheckpointSigner({ name: 'audit.example/log', privateKey: seed });
 * const note = signer.sign({ origin: 'audit.example/log', size: tree.size, root: tree.root() });
 * ```
 */
export function createCheckpointSigner(options: CheckpointSignerOptions): CheckpointSigner {
  const signer = createNoteSigner(options);
  const digestKey = deriveDigestKey(options.privateKey);
  const macBytes = options.macBytes;
  let digest = (text: string): string => keyedDigest(digestKey, text);
  if (macBytes !== undefined) {
    if (typeof macBytes !== 'function') throw new TypeError('macBytes must be a function');
    // Like signBytes: an injected HMAC must give exactly noble's answer for this key, checked once here.
    const probe = 'covenant digest self-check';
    const hex = (bytes: Uint8Array): string => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
    if (`${KEYED_DIGEST_PREFIX}${hex(macBytes(digestKey, utf8(probe)))}` !== keyedDigest(digestKey, probe)) {
      throw new TypeError('macBytes does not produce the HMAC-SHA256 of the digest key');
    }
    digest = (text: string): string => {
      if (typeof text !== 'string') throw new TypeError('digest: text must be a string');
      return `${KEYED_DIGEST_PREFIX}${hex(macBytes(digestKey, utf8(text)))}`;
    };
  }
  return Object.freeze({
    digest,
    name: signer.name,
    get keyId() {
      return signer.keyId;
    },
    get publicKey() {
      return signer.publicKey;
    },
    sign(checkpoint: Checkpoint): string {
      return signer.sign(formatCheckpoint(checkpoint));
    },
  });
}

/**
 * Opens a signed checkpoint with one trusted key and parses it. Pass `origin` to refuse checkpoints of
 * another log signed by the same key; without it, compare `checkpoint.origin` yourself.
 *
 * @example
 * ```ts
 * const result = verifyCheckpoint(note, { name: 'audit.example/log', publicKey, origin: 'audit.example/log' });
 * if (result.ok) use(result.checkpoint.size, result.checkpoint.root);
 * ```
 */
export function verifyCheckpoint(note: string, key: CheckpointVerifierKey): CheckpointResult {
  return verifyCheckpointWith(note, key, undefined);
}

/** {@link verifyCheckpoint} with another implementation of strict Ed25519 verification (internal; default noble). */
export function verifyCheckpointWith(note: string, key: CheckpointVerifierKey, check: SignatureCheck | undefined): CheckpointResult {
  if (key.origin !== undefined && typeof key.origin !== 'string') throw new TypeError('origin must be a string');
  const opened = openNoteWith(note, key, check);
  if (!opened.ok) return opened;
  const parsed = parseCheckpoint(opened.text);
  if (!parsed.ok) return parsed;
  if (key.origin !== undefined && parsed.checkpoint.origin !== key.origin) {
    return failure('ERR_LEDGER_CHECKPOINT_ORIGIN_MISMATCH', 'the checkpoint origin is not the expected origin');
  }
  return parsed;
}

/**
 * {@link verifyCheckpoint}, returning the checkpoint or throwing a `NoteError` / `CheckpointError`.
 *
 * @example
 * ```ts
 * const { size, root } = assertCheckpoint(note, { name, publicKey, origin: name });
 * ```
 */
export function assertCheckpoint(note: string, key: CheckpointVerifierKey): Checkpoint {
  const result = verifyCheckpoint(note, key);
  if (!result.ok) throw toLedgerError(result);
  return result.checkpoint;
}
