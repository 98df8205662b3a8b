import { ed25519 } from '@noble/curves/ed25519.js';
import { decodeBase64, encodeBase64, isWellFormed, utf8 } from './encoding.ts';
import { failure } from './errors.ts';
import type { LedgerFailure, NoteErrorCode } from './errors.ts';
import { sha256 } from './merkle-hash.ts';

/**
 * C2SP signed notes with Ed25519, per c2sp.org/signed-note (C2SP/C2SP `signed-note.md`, read for this
 * file): a text ending in a newline, a blank line, then signature lines
 * `— <key name> <base64(4-byte big-endian key id ‖ signature)>\n` (em dash U+2014, space). The signature
 * covers the text including its final newline, not the blank line. For Ed25519 (signature type 0x01,
 * RFC 8032): key id = SHA-256(key name ‖ 0x0A ‖ 0x01 ‖ 32-byte public key)[:4].
 *
 * Verification is strict RFC 8032 (noble-curves `zip215: false`): canonical S < L, canonical encodings of
 * R and A, so a signature has exactly one accepted spelling (no malleability). ZIP-215's permissive rules
 * suit consensus systems, not an audit log that third parties must agree on byte for byte.
 */

/** The signature type byte of Ed25519 in c2sp.org/signed-note. */
const ED25519_SIGNATURE_TYPE = 0x01;
const EM_DASH_SPACE = '\u2014 ';
const KEY_ID_SIZE = 4;
const SIGNATURE_SIZE = 64;
const PUBLIC_KEY_SIZE = 32;
/** The spec asks verifiers to cap signatures and to accept at least 16; Go's sumdb/note caps at 100. */
const MAX_SIGNATURES = 100;
/** A checkpoint is a few hundred bytes; 1 MiB bounds the work a hostile note can cause. */
const MAX_NOTE_LENGTH = 1 << 20;
/** Unicode white space as Go's unicode.IsSpace sees it (JS `\s` misses U+0085). */
const SPACE = /[\s\u0085]/u;
/** ASCII control characters other than newline: the spec forbids them (this is where a CR is refused). */
const CONTROL = /[\u0000-\u0009\u000B-\u001F]/;

/** A trusted key: its name and 32-byte Ed25519 public key. */
export interface NoteVerifierKey {
  readonly name: string;
  readonly publicKey: Uint8Array;
}

/** Signs note texts with one Ed25519 key. */
export interface NoteSigner {
  readonly name: string;
  /** The 4-byte key id that prefixes every signature. */
  readonly keyId: Uint8Array;
  readonly publicKey: Uint8Array;
  /** Returns `text`, a blank line and one signature line. `text` must end in a newline and contain no control characters other than newlines. */
  sign(text: string): string;
}

/** The outcome of opening a note: its verified text, or a failure as data. */
export type NoteResult = { readonly ok: true; readonly text: string } | LedgerFailure<NoteErrorCode>;

/**
 * Whether `name` is a valid key name: non-empty, well-formed, no Unicode space, no '+'.
 *
 * @example
 * ```ts
 * isValidKeyName('audit.example/log'); // true
 * isValidKeyName('audit log'); // false
 * ```
 */
export function isValidKeyName(name: string): boolean {
  return (
    typeof name === 'string' &&
    name.length > 0 &&
    isWellFormed(name) &&
    !SPACE.test(name) &&
    !name.includes('+') &&
    !CONTROL.test(name)
  );
}

/**
 * The Ed25519 key id: SHA-256(name ‖ 0x0A ‖ 0x01 ‖ publicKey)[:4] (c2sp.org/signed-note, "Ed25519 signatures").
 *
 * @example
 * ```ts
 * const id = ed25519KeyId('audit.example/log', publicKey); // 4 bytes
 * ```
 */
export function ed25519KeyId(name: string, publicKey: Uint8Array): Uint8Array {
  checkKey(name, publicKey);
  return sha256(utf8(name), new Uint8Array([0x0a, ED25519_SIGNATURE_TYPE]), publicKey).slice(0, KEY_ID_SIZE);
}

export interface NoteSignerOptions {
  readonly name: string;
  /** The 32-byte Ed25519 private key (RFC 8032 seed). */
  readonly privateKey: Uint8Array;
  /**
   * Another Ed25519 implementation for the same key (e.g. node:crypto, ~15x faster than noble on Node);
   * checked against noble once, at creation. Defaults to noble (portable: runs in a browser).
   */
  readonly signBytes?: (message: Uint8Array) => Uint8Array;
}

function bytesEqualConstant(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

/**
 * Creates a note signer from a 32-byte Ed25519 private key (the RFC 8032 seed). Signatures are
 * deterministic (RFC 8032), so the same key and text always give the same note.
 *
 * @example
 * ```ts
 * const signer = createNoteSigner({ name: 'audit.example/log', privateKey: seed });
 * const note = signer.sign('hello\n'); // 'hello\n\n— audit.example/log …\n'
 * ```
 */
export function createNoteSigner(options: NoteSignerOptions): NoteSigner {
  const { name, privateKey } = options;
  if (!isValidKeyName(name)) throw new TypeError('name must be a valid key name (non-empty, no spaces, no "+")');
  if (!(privateKey instanceof Uint8Array) || privateKey.length !== 32) {
    throw new TypeError('privateKey must be a 32-byte Ed25519 seed');
  }
  const secret = privateKey.slice();
  const publicKey = ed25519.getPublicKey(secret);
  const signBytes = options.signBytes ?? ((message: Uint8Array) => ed25519.sign(message, secret));
  // An injected implementation must produce exactly noble's signature for this key (Ed25519 signatures
  // are deterministic): checked once here, so a wrong key or a broken binding fails at start-up.
  const probe = utf8('covenant signer self-check\n');
  if (options.signBytes !== undefined && !bytesEqualConstant(signBytes(probe), ed25519.sign(probe, secret))) {
    throw new TypeError('signBytes does not produce the Ed25519 signatures of privateKey');
  }
  const keyId = ed25519KeyId(name, publicKey);
  return Object.freeze({
    name,
    get keyId() {
      return keyId.slice();
    },
    get publicKey() {
      return publicKey.slice();
    },
    sign(text: string): string {
      checkText(text);
      const signature = signBytes(utf8(text));
      const blob = new Uint8Array(KEY_ID_SIZE + SIGNATURE_SIZE);
      blob.set(keyId, 0);
      blob.set(signature, KEY_ID_SIZE);
      return `${text}\n${EM_DASH_SPACE}${name} ${encodeBase64(blob)}\n`;
    },
  });
}

/**
 * Opens a signed note with one trusted key and returns its text.
 *
 * Signature lines from other keys are ignored, as the spec requires (a witness may cosign). The note
 * is refused when it is malformed, when no line carries the key's name (`…_UNKNOWN_KEY`) or only lines
 * with its name but another key id (`…_KEY_ID_MISMATCH`), or when any line from the key fails strict
 * Ed25519 verification (`…_SIGNATURE_INVALID`; the spec's SHOULD, taken as a MUST).
 *
 * @example
 * ```ts
 * const opened = openNote(note, { name: 'audit.example/log', publicKey });
 * if (opened.ok) console.log(opened.text);
 * ```
 */
export function openNote(note: string, key: NoteVerifierKey): NoteResult {
  return openNoteWith(note, key, undefined);
}

/**
 * Checks one Ed25519 signature of the trusted key over `message`. Internal: verifyLedger passes one that runs
 * node:crypto first and gives exactly {@link verifyEd25519}'s results (see verify-ledger.ts).
 */
export type SignatureCheck = (signature: Uint8Array, message: Uint8Array) => boolean;

/** {@link openNote} with another implementation of strict Ed25519 verification (internal; default noble). */
export function openNoteWith(note: string, key: NoteVerifierKey, check: SignatureCheck | undefined): NoteResult {
  if (typeof note !== 'string') throw new TypeError('note must be a string');
  checkKey(key.name, key.publicKey);
  const verifySignature = check ?? ((signature: Uint8Array, message: Uint8Array) => verifyStrict(signature, message, key.publicKey));

  if (note.length > MAX_NOTE_LENGTH) return malformed('the note is too large');
  if (!isWellFormed(note)) return malformed('the note is not valid UTF-8');
  if (CONTROL.test(note)) return malformed('the note contains a control character (CR, tab …)');
  if (!note.endsWith('\n')) return malformed('the note must end with a newline');
  const split = note.lastIndexOf('\n\n');
  if (split < 0) return malformed('the note has no blank line before its signatures');
  const text = note.slice(0, split + 1);
  const lines = note.slice(split + 2, -1).split('\n');
  if (lines.length > MAX_SIGNATURES) return malformed('the note has too many signatures');

  const keyId = ed25519KeyId(key.name, key.publicKey);
  const message = utf8(text);
  let known = 0;
  let sameNameOtherId = 0;
  for (const line of lines) {
    if (!line.startsWith(EM_DASH_SPACE)) return malformed('a signature line must start with an em dash and a space');
    const fields = line.slice(EM_DASH_SPACE.length).split(' ');
    const [name, encoded] = fields;
    if (fields.length !== 2 || name === undefined || encoded === undefined || !isValidKeyName(name)) {
      return malformed('a signature line must hold a key name and a signature');
    }
    const blob = decodeBase64(encoded);
    if (blob === undefined || blob.length <= KEY_ID_SIZE) return malformed('a signature is not canonical base64 of a key id and a signature');
    if (name !== key.name) continue;
    if (!bytesEqual4(blob, keyId)) {
      sameNameOtherId += 1;
      continue;
    }
    known += 1;
    const signature = blob.subarray(KEY_ID_SIZE);
    if (signature.length !== SIGNATURE_SIZE || !verifySignature(signature, message)) {
      return failure('ERR_LEDGER_NOTE_SIGNATURE_INVALID', 'the signature of the expected key does not verify');
    }
  }
  if (known === 0) {
    return sameNameOtherId > 0
      ? failure('ERR_LEDGER_NOTE_KEY_ID_MISMATCH', 'the note is signed under the expected name with another key id')
      : failure('ERR_LEDGER_NOTE_UNKNOWN_KEY', 'the note carries no signature from the expected key name');
  }
  return Object.freeze({ ok: true as const, text });
}

/**
 * Strict RFC 8032 Ed25519 verification (no ZIP-215 leniency). Exported for the Wycheproof tests and for
 * callers that verify raw signatures with the same rules.
 *
 * @example
 * ```ts
 * verifyEd25519(signature, message, publicKey); // true or false, never throws on hostile bytes
 * ```
 */
export function verifyEd25519(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean {
  return verifyStrict(signature, message, publicKey);
}

function verifyStrict(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean {
  if (signature.length !== SIGNATURE_SIZE || publicKey.length !== PUBLIC_KEY_SIZE) return false;
  try {
    return ed25519.verify(signature, message, publicKey, { zip215: false });
  } catch {
    // noble throws on undecodable points; for hostile bytes that is simply "does not verify".
    return false;
  }
}

function checkKey(name: string, publicKey: Uint8Array): void {
  if (!isValidKeyName(name)) throw new TypeError('name must be a valid key name (non-empty, no spaces, no "+")');
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== PUBLIC_KEY_SIZE) {
    throw new TypeError('publicKey must be a 32-byte Ed25519 public key');
  }
}

function checkText(text: string): void {
  if (typeof text !== 'string' || text.length === 0 || !text.endsWith('\n')) {
    throw new TypeError('note text must be a non-empty string ending in a newline');
  }
  if (!isWellFormed(text) || CONTROL.test(text)) {
    throw new TypeError('note text must be valid UTF-8 without control characters other than newline');
  }
}

function malformed(message: string): LedgerFailure<'ERR_LEDGER_NOTE_MALFORMED'> {
  return failure('ERR_LEDGER_NOTE_MALFORMED', message);
}

function bytesEqual4(blob: Uint8Array, keyId: Uint8Array): boolean {
  return blob[0] === keyId[0] && blob[1] === keyId[1] && blob[2] === keyId[2] && blob[3] === keyId[3];
}
