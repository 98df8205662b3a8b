import { isWellFormed, utf8 } from './encoding.ts';
import { LogError } from './errors.ts';
import { leafHash } from './merkle-hash.ts';

/**
 * One audit record. Entries carry identifiers, hashes and redacted values only — never raw PII, bearer
 * tokens, secrets or request bodies: the log is kept forever and handed to auditors, so whatever goes in
 * cannot be taken back. The input is recorded as a digest of its redacted form (`inputDigest`), and
 * `data` holds small, already-redacted facts (a decision record, a changed field's name).
 *
 * Every member is always present (`null` when it does not apply) so that an entry has exactly one
 * canonical encoding; see docs/ledger.md "Entries" for the byte format.
 */
export interface LedgerEntry {
  /** Encoding version. */
  readonly v: 1;
  /** The entry's index in the log. Inside the hashed bytes, so a leaf cannot be moved to another index. */
  readonly seq: number;
  /** When the store sequenced it: `Date.prototype.toISOString()` form, UTC, millisecond precision. */
  readonly at: string;
  /** `intent` before an action runs, `outcome` after it, `denial` when it was refused, `event` otherwise. */
  readonly kind: LedgerEntryKind;
  /** What was (to be) done, e.g. `orders.place` or `rbac.grant`. */
  readonly action: string;
  /** The principal's subject and session id (never a token). */
  readonly actor: { readonly subject: string; readonly session: string | null } | null;
  readonly tenant: { readonly org: string; readonly workspace: string | null } | null;
  readonly resource: { readonly type: string; readonly id: string } | null;
  /** Links an intent to its outcome: required for both. */
  readonly requestId: string | null;
  /** Required for `outcome` entries, `null` for `intent` entries. */
  readonly outcome: 'ok' | 'failed' | 'aborted' | null;
  /**
   * The digest of the redacted input: `hmac-sha256:` and 64 lowercase hex digits, keyed with the log's
   * digest key (keyed-digest.ts); `sha256:` and 64 hex digits in entries written before keyed digests.
   */
  readonly inputDigest: string | null;
  /** Any redacted JSON value (no raw PII, tokens or secrets). */
  readonly data: JsonValue | null;
}

export type LedgerEntryKind = 'intent' | 'outcome' | 'denial' | 'event';

/** Plain JSON data. */
export type JsonValue = null | boolean | number | string | readonly JsonValue[] | { readonly [key: string]: JsonValue };

/** What a caller appends: the store assigns `v`, `seq` and `at`. */
export type NewEntry = Omit<LedgerEntry, 'v' | 'seq' | 'at'>;

/** Largest encoded entry accepted: audit records are small; a megabyte body is a misuse (or a leak). */
export const MAX_ENTRY_BYTES = 65_536;

const KEYS = ['action', 'actor', 'at', 'data', 'inputDigest', 'kind', 'outcome', 'requestId', 'resource', 'seq', 'tenant', 'v'];
const NEW_KEYS = KEYS.filter((key) => key !== 'v' && key !== 'seq' && key !== 'at');
const KINDS: ReadonlySet<string> = new Set(['intent', 'outcome', 'denial', 'event']);
const OUTCOMES: ReadonlySet<string> = new Set(['ok', 'failed', 'aborted']);
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const MAX_TEXT = 512;
const MAX_DEPTH = 32;

/**
 * Checks that `value` is a valid {@link LedgerEntry}; throws `TypeError` naming the first bad member.
 *
 * @example
 * ```ts
 * assertEntry({ ...entry, kind: 'other' }); // TypeError: entry.kind must be intent, outcome, denial or event
 * ```
 */
export function assertEntry(value: unknown): asserts value is LedgerEntry {
  entryText(value);
}

/**
 * Checks what a caller may append (an entry without `v`, `seq` and `at`); throws `TypeError`.
 *
 * @example
 * ```ts
 * assertNewEntry({ kind: 'intent', action: 'orders.place', actor: null, tenant: null, resource: null,
 *   requestId: 'req_1', outcome: null, inputDigest: null, data: null });
 * ```
 */
export function assertNewEntry(value: unknown): asserts value is NewEntry {
  bodyParts(record(value, 'entry', NEW_KEYS), 'entry');
}

/**
 * The canonical bytes of an entry: UTF-8 of canonicalJson(entry) (RFC 8785-style: keys sorted, no white
 * space). Its leaf hash is `leafHash(encodeEntry(entry))`. Invalid entries throw `TypeError`.
 *
 * @example
 * ```ts
 * const bytes = encodeEntry(entry);
 * const leaf = leafHash(bytes); // SHA-256(0x00 ‖ bytes)
 * ```
 */
export function encodeEntry(entry: LedgerEntry): Uint8Array {
  const bytes = utf8(entryText(entry));
  if (bytes.length > MAX_ENTRY_BYTES) throw new TypeError(`entry: the encoding exceeds ${MAX_ENTRY_BYTES} bytes`);
  return bytes;
}

/**
 * The leaf hash of an entry, SHA-256(0x00 ‖ encodeEntry(entry)).
 *
 * @example
 * ```ts
 * tree.append(entryLeafHash(entry));
 * ```
 */
export function entryLeafHash(entry: LedgerEntry): Uint8Array {
  return leafHash(encodeEntry(entry));
}

/** Strict UTF-8 that keeps a leading BOM (U+FEFF), which JSON.parse then refuses: a BOM is not part of the canonical encoding. */
const DECODER = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Decodes stored bytes (untrusted): they must be valid UTF-8 of a valid entry in exactly its canonical
 * encoding, so that one entry has one leaf hash. Anything else throws `LogError`
 * `ERR_LEDGER_LOG_ENTRY_MALFORMED` (the message names the problem, never the content).
 *
 * @example
 * ```ts
 * const entry = decodeEntry(row.body);
 * ```
 */
export function decodeEntry(bytes: Uint8Array): LedgerEntry {
  if (!(bytes instanceof Uint8Array)) throw new TypeError('decodeEntry: bytes must be a Uint8Array');
  let value: unknown;
  let text: string;
  try {
    text = DECODER.decode(bytes);
    value = JSON.parse(text);
  } catch {
    throw new LogError('ERR_LEDGER_LOG_ENTRY_MALFORMED', 'the entry is not UTF-8 JSON');
  }
  let canonical: string;
  try {
    canonical = entryText(value);
  } catch (error) {
    throw new LogError('ERR_LEDGER_LOG_ENTRY_MALFORMED', `the entry is invalid: ${(error as Error).message}`);
  }
  if (canonical !== text || bytes.length > MAX_ENTRY_BYTES) {
    throw new LogError('ERR_LEDGER_LOG_ENTRY_MALFORMED', 'the entry is not in its canonical encoding');
  }
  return value as LedgerEntry;
}

/**
 * What the store keeps of an entry outside its hashed bytes: `ledger_entries` repeats `seq`, `kind`,
 * `request_id` and `at` in columns of their own (for lookups), which nothing signs. Readers that decide
 * anything by them (the store's catch-up, `verifyLedger`) check them against the body first.
 */
export interface EntryIndex {
  readonly seq: number;
  readonly kind: LedgerEntryKind;
  readonly requestId: string | null;
  readonly at: string;
}

/** The {@link EntryIndex} of a decoded entry. */
export function entryIndexOf(entry: LedgerEntry): EntryIndex {
  return { seq: entry.seq, kind: entry.kind, requestId: entry.requestId, at: entry.at };
}

/**
 * The index members (seq, kind, request id, at) of stored entry bytes when they are, provably, exactly the
 * canonical encoding of a valid entry; `undefined` when this check cannot tell, and then only
 * {@link decodeEntry} decides (it gives the error). Internal: the fast path of the verifier and of the
 * store's catch-up (both check every entry of a log, and JSON.parse plus re-encoding cost more than
 * everything else they do per entry).
 *
 * It matches the canonical skeleton byte for byte — the twelve members in sorted order, no white space,
 * `"v":1}` last — and checks each member by decodeEntry's rules: text members are 1 to 512 printable ASCII
 * characters other than `"` and `\` (anything else, which is still valid but rare, is left to decodeEntry),
 * `at` a valid instant, `seq` a canonical safe integer, the fixed vocabularies and digest pattern, the
 * kind/outcome/requestId rules, and `data` parsed and re-encoded by the very rule decodeEntry uses. So it
 * only ever accepts bytes that decodeEntry accepts, with the same index members (tested against it on
 * generated and mutated entries); it may decline bytes that decodeEntry accepts.
 */
export function canonicalEntryIndex(bytes: Uint8Array): EntryIndex | undefined {
  const end = bytes.length;
  if (end > MAX_ENTRY_BYTES) return undefined;
  let p = literal(bytes, 0, L_ACTION);
  p = asciiText(bytes, p);
  p = literal(bytes, p, L_ACTOR);
  if (at(bytes, p, N)) p += 4;
  else {
    p = literal(bytes, p, L_SESSION);
    p = at(bytes, p, N) ? p + 4 : asciiText(bytes, p);
    p = literal(bytes, p, L_SUBJECT);
    p = asciiText(bytes, p);
    p = literal(bytes, p, L_CLOSE);
  }
  p = literal(bytes, p, L_AT);
  if (p < 0 || p + 24 > end || !isInstantBytes(bytes, p)) return undefined;
  const atStart = p;
  p = literal(bytes, p + 24, L_DATA);
  if (at(bytes, p, N)) p += 4;
  else if (p >= 0) p = canonicalData(bytes, p);
  p = literal(bytes, p, L_DIGEST);
  if (at(bytes, p, N)) p += 4;
  else p = digest(bytes, p);
  p = literal(bytes, p, L_KIND);
  let kind = -1;
  for (let k = 0; k < KIND_LITERALS.length && kind < 0; k += 1) if (at(bytes, p, KIND_LITERALS[k]!)) kind = k;
  if (kind < 0) return undefined;
  p = literal(bytes, p + KIND_LITERALS[kind]!.length, L_OUTCOME);
  let outcome = -1;
  if (at(bytes, p, N)) p += 4;
  else {
    for (let k = 0; k < OUTCOME_LITERALS.length && outcome < 0; k += 1) if (at(bytes, p, OUTCOME_LITERALS[k]!)) outcome = k;
    if (outcome < 0) return undefined;
    p += OUTCOME_LITERALS[outcome]!.length;
  }
  p = literal(bytes, p, L_REQUEST);
  const hasRequestId = !at(bytes, p, N);
  const requestStart = p;
  p = hasRequestId ? asciiText(bytes, p) : p + 4;
  const requestEnd = p;
  p = literal(bytes, p, L_RESOURCE);
  if (at(bytes, p, N)) p += 4;
  else {
    p = literal(bytes, p, L_ID);
    p = asciiText(bytes, p);
    p = literal(bytes, p, L_TYPE);
    p = asciiText(bytes, p);
    p = literal(bytes, p, L_CLOSE);
  }
  p = literal(bytes, p, L_SEQ);
  if (p < 0) return undefined;
  // A canonical safe integer: 0, or up to 16 digits without a leading zero (beyond 2^53 − 1 is refused).
  let seq = 0;
  const digits = p;
  while (p < end && bytes[p]! >= 0x30 && bytes[p]! <= 0x39 && p - digits < 16) seq = seq * 10 + (bytes[p++]! - 0x30);
  if (p === digits || (bytes[digits] === 0x30 && p - digits > 1) || seq > Number.MAX_SAFE_INTEGER) return undefined;
  p = literal(bytes, p, L_TENANT);
  if (at(bytes, p, N)) p += 4;
  else {
    p = literal(bytes, p, L_ORG);
    p = asciiText(bytes, p);
    p = literal(bytes, p, L_WORKSPACE);
    p = at(bytes, p, N) ? p + 4 : asciiText(bytes, p);
    p = literal(bytes, p, L_CLOSE);
  }
  p = literal(bytes, p, L_END);
  if (p !== end) return undefined;
  // assertEntry's rules between members (kind 1 = outcome, 0 = intent).
  if (kind === 1 && outcome < 0) return undefined;
  if (kind === 0 && outcome >= 0) return undefined;
  if ((kind === 0 || kind === 1) && !hasRequestId) return undefined;
  // Both spans are plain ASCII (checked above): one byte is one character.
  return {
    seq,
    kind: KIND_NAMES[kind]!,
    requestId: hasRequestId ? asciiString(bytes, requestStart + 1, requestEnd - 1) : null,
    at: asciiString(bytes, atStart, atStart + 24),
  };
}

function asciiString(bytes: Uint8Array, start: number, end: number): string {
  let text = '';
  for (let i = start; i < end; i += 1) text += String.fromCharCode(bytes[i]!);
  return text;
}

const ascii = (text: string): Uint8Array => Uint8Array.from(text, (c) => c.charCodeAt(0));
const N = ascii('null');
const L_ACTION = ascii('{"action":');
const L_ACTOR = ascii(',"actor":');
const L_SESSION = ascii('{"session":');
const L_SUBJECT = ascii(',"subject":');
const L_CLOSE = ascii('}');
const L_AT = ascii(',"at":"');
const L_DATA = ascii('","data":');
const L_DIGEST = ascii(',"inputDigest":');
const L_KIND = ascii(',"kind":');
const L_OUTCOME = ascii(',"outcome":');
const L_REQUEST = ascii(',"requestId":');
const L_RESOURCE = ascii(',"resource":');
const L_ID = ascii('{"id":');
const L_TYPE = ascii(',"type":');
const L_SEQ = ascii(',"seq":');
const L_TENANT = ascii(',"tenant":');
const L_ORG = ascii('{"org":');
const L_WORKSPACE = ascii(',"workspace":');
const L_END = ascii(',"v":1}');
/** In KINDS order: intent, outcome, denial, event. */
const KIND_NAMES: ReadonlyArray<LedgerEntryKind> = ['intent', 'outcome', 'denial', 'event'];
const KIND_LITERALS = KIND_NAMES.map((kind) => ascii(`"${kind}"`));
const OUTCOME_LITERALS = ['"ok"', '"failed"', '"aborted"'].map(ascii);
const DIGEST_PREFIXES = [ascii('"hmac-sha256:'), ascii('"sha256:')];

/** Whether `expected` is at `p` (false for p < 0). */
function at(bytes: Uint8Array, p: number, expected: Uint8Array): boolean {
  if (p < 0 || p + expected.length > bytes.length) return false;
  for (let i = 0; i < expected.length; i += 1) if (bytes[p + i] !== expected[i]) return false;
  return true;
}

/** The position after `expected` at `p`, or -1. */
function literal(bytes: Uint8Array, p: number, expected: Uint8Array): number {
  return at(bytes, p, expected) ? p + expected.length : -1;
}

/**
 * A quoted text member at `p` made of 1 to MAX_TEXT printable ASCII characters without `"` and `\` (so it
 * needs no escape and is its own canonical form): the position after its closing quote, or -1.
 */
function asciiText(bytes: Uint8Array, p: number): number {
  if (p < 0 || bytes[p] !== 0x22) return -1;
  const start = p + 1;
  let i = start;
  const limit = Math.min(bytes.length, start + MAX_TEXT + 1);
  while (i < limit) {
    const c = bytes[i]!;
    if (c === 0x22) break;
    if (c < 0x20 || c > 0x7e || c === 0x5c) return -1;
    i += 1;
  }
  if (i === start || i >= limit) return -1;
  return i + 1;
}

/** `"hmac-sha256:` or `"sha256:`, 64 lowercase hex digits and `"` at `p`: the position after it, or -1. */
function digest(bytes: Uint8Array, p: number): number {
  const prefix = DIGEST_PREFIXES.find((candidate) => at(bytes, p, candidate));
  if (prefix === undefined) return -1;
  let i = p + prefix.length;
  if (i + 65 > bytes.length) return -1;
  for (const stop = i + 64; i < stop; i += 1) {
    const c = bytes[i]!;
    if (!((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66))) return -1;
  }
  return bytes[i] === 0x22 ? i + 1 : -1;
}

/** The last `at` found valid, as bytes: entries of one batch share it. */
const lastInstantBytes = new Uint8Array(24);
let lastInstantSet = false;

/** Whether the 24 bytes at `p` are a valid `at` (the ISO pattern, a real instant), as entryText checks it. */
function isInstantBytes(bytes: Uint8Array, p: number): boolean {
  if (lastInstantSet) {
    let same = true;
    for (let i = 0; i < 24 && same; i += 1) same = bytes[p + i] === lastInstantBytes[i];
    if (same) return bytes[p + 24] === 0x22;
  }
  if (bytes[p + 24] !== 0x22) return false;
  let text = '';
  for (let i = 0; i < 24; i += 1) text += String.fromCharCode(bytes[p + i]!);
  if (!isInstant(text)) return false;
  lastInstantBytes.set(bytes.subarray(p, p + 24));
  lastInstantSet = true;
  return true;
}

/**
 * A non-null `data` value at `p`: finds where it ends (strings, escapes and nesting followed, nothing else),
 * then checks it exactly as decodeEntry does (valid UTF-8, JSON, the `json` rule, and equal to its canonical
 * form). The position after it, or -1.
 */
function canonicalData(bytes: Uint8Array, p: number): number {
  const end = bytes.length;
  let i = p;
  let depth = 0;
  for (;;) {
    if (i >= end) return -1;
    const c = bytes[i]!;
    if (c === 0x22) {
      i += 1;
      while (i < end && bytes[i] !== 0x22) i += bytes[i] === 0x5c ? 2 : 1;
      if (i >= end) return -1;
      i += 1;
      if (depth === 0) break;
    } else if (c === 0x7b || c === 0x5b) {
      depth += 1;
      i += 1;
    } else if (c === 0x7d || c === 0x5d) {
      depth -= 1;
      i += 1;
      if (depth < 0) return -1;
      if (depth === 0) break;
    } else if (depth === 0) {
      // A number, true or false: up to the next member.
      while (i < end && bytes[i] !== 0x2c) i += 1;
      break;
    } else i += 1;
  }
  try {
    const text = DECODER.decode(bytes.subarray(p, i));
    return json(JSON.parse(text), 'entry.data', 0) === text ? i : -1;
  } catch {
    return -1;
  }
}

/**
 * A new entry, validated and canonically encoded except for the two members the store assigns when it
 * sequences it (`at`, `seq`): its bytes are `head "at" mid seq tail`. Internal (the store's append path, not
 * exported from the package): the entry is read once, when it is appended, so a caller changing its objects
 * afterwards changes nothing, and encoded once. Held as one UTF-8 buffer (`head 0x01 mid 0x01 tail`; raw
 * U+0001 never occurs in canonical JSON) rather than strings: a batch keeps thousands of these alive until it
 * commits, and one buffer is one object where concatenated strings are dozens.
 */
export interface PreparedEntry {
  readonly bytes: Uint8Array;
  /** Where `mid` starts in `bytes` (after head and its separator) and where `tail` starts. */
  readonly mid: number;
  readonly tail: number;
  readonly kind: LedgerEntryKind;
  readonly requestId: string | null;
}

/**
 * Validates a {@link NewEntry} (as `assertNewEntry`, same `TypeError`s) and encodes it around `at` and
 * `seq`. Also refuses an entry whose encoding would exceed MAX_ENTRY_BYTES even at seq 0; the exact size
 * is known, and checked, only once the seq is (see preparedEntryLength).
 */
export function prepareEntry(value: unknown): PreparedEntry {
  const parts = bodyParts(record(value, 'entry', NEW_KEYS), 'entry');
  const bytes = Buffer.from(`${parts.head}\u0001${parts.mid}\u0001${parts.tail}`, 'utf8');
  const mid = bytes.indexOf(0x01) + 1;
  const tail = bytes.indexOf(0x01, mid) + 1;
  const prepared: PreparedEntry = { bytes, mid, tail, kind: parts.kind, requestId: parts.requestId };
  if (preparedEntryLength(prepared, 0) > MAX_ENTRY_BYTES) throw new TypeError(`entry: the encoding exceeds ${MAX_ENTRY_BYTES} bytes`);
  return prepared;
}

/** The byte length of a prepared entry's encoding at `seq`. */
export function preparedEntryLength(entry: PreparedEntry, seq: number): number {
  return entry.bytes.length - 2 + AT_QUOTED_BYTES + decimalDigits(seq);
}

/**
 * Writes the canonical bytes of a prepared entry at `seq` to `target` at `offset`, with `atQuoted` the
 * ASCII bytes of `"<at>"` (an `at` already checked by assertEntryInstant); returns the offset after them.
 * Byte for byte `encodeEntry({ v: 1, seq, at, ...entry })` (tested).
 */
export function writePreparedEntry(entry: PreparedEntry, seq: number, atQuoted: Uint8Array, target: Uint8Array, offset: number): number {
  const { bytes, mid, tail } = entry;
  let p = offset;
  target.set(bytes.subarray(0, mid - 1), p);
  p += mid - 1;
  target.set(atQuoted, p);
  p += atQuoted.length;
  target.set(bytes.subarray(mid, tail - 1), p);
  p += tail - 1 - mid;
  const digits = decimalDigits(seq);
  for (let i = digits - 1, n = seq; i >= 0; i -= 1, n = Math.floor(n / 10)) target[p + i] = 0x30 + (n % 10);
  p += digits;
  target.set(bytes.subarray(tail), p);
  return p + bytes.length - tail;
}

/** Checks an entry's `at` as `assertEntry` does (same `TypeError`). */
export function assertEntryInstant(at: unknown): asserts at is string {
  if (typeof at !== 'string' || !isInstant(at)) throw new TypeError('entry.at must be an ISO 8601 UTC instant as toISOString() writes it');
}

/** A quoted `at`: 24 ASCII characters and two quotes. */
const AT_QUOTED_BYTES = 26;

/** Digits of a non-negative safe integer. */
function decimalDigits(n: number): number {
  let digits = 1;
  for (let bound = 10; n >= bound && digits < 16; bound *= 10) digits += 1;
  return digits;
}

/**
 * Validates a whole entry (`assertEntry`'s checks, in its order, with its messages) and returns its
 * canonical JSON text: canonicalJson(entry) of @covenant/contract, written out for the entry's fixed shape
 * (members in sorted order, strings and numbers by JSON.stringify), so that encoding and the verifier's
 * canonical check cost one pass and no generic key sorting. Each member is read once.
 */
function entryText(value: unknown): string {
  const entry = record(value, 'entry', KEYS);
  const { v, seq, at } = entry;
  if (v !== 1) throw new TypeError('entry.v must be 1');
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 0) throw new TypeError('entry.seq must be a non-negative safe integer');
  assertEntryInstant(at);
  const parts = bodyParts(entry, 'entry');
  // `at` is plain ASCII without characters to escape (checked); a safe integer prints as JSON.stringify does.
  return `${parts.head}"${at}"${parts.mid}${seq}${parts.tail}`;
}

function record(value: unknown, path: string, keys: readonly string[]): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new TypeError(`${path} must be an object`);
  const prototype = Object.getPrototypeOf(value);
  if (prototype !== Object.prototype && prototype !== null) throw new TypeError(`${path} must be a plain object`);
  const own = Object.keys(value);
  // Fast path: exactly the members, in order (what JSON.parse gives for a canonical entry).
  if (own.length === keys.length) {
    let i = 0;
    while (i < own.length && own[i] === keys[i]) i += 1;
    if (i === own.length) return value as Record<string, unknown>;
  }
  for (const key of own) if (!keys.includes(key)) throw new TypeError(`${path}.${key} is not a member`);
  // Own enumerable keys are distinct: as many members as keys means every key is there.
  if (own.length === keys.length) return value as Record<string, unknown>;
  for (const key of keys) if (!Object.hasOwn(value, key)) throw new TypeError(`${path}.${key} is required (use null)`);
  return value as Record<string, unknown>;
}

/** The canonical text of an entry's members but `at` and `seq`, in the three pieces around them. */
interface BodyParts {
  readonly head: string;
  readonly mid: string;
  readonly tail: string;
  readonly kind: LedgerEntryKind;
  readonly requestId: string | null;
}

/**
 * Validates the members other than `v`, `seq` and `at` (in the order `assertEntry` always checked them)
 * and returns their canonical text in the three pieces around `at` and `seq`; each member is read once.
 * Sorted member order: action, actor, at, data, inputDigest, kind, outcome, requestId, resource, seq,
 * tenant, v (and session < subject, org < workspace, id < type inside).
 */
function bodyParts(entry: Record<string, unknown>, path: string): BodyParts {
  const { kind, action, actor, tenant, resource, requestId, outcome, inputDigest, data } = entry;
  if (typeof kind !== 'string' || !KINDS.has(kind)) throw new TypeError(`${path}.kind must be intent, outcome, denial or event`);
  const actionText = quotedText(action, `${path}.action`);
  let actorText = 'null';
  if (actor !== null) {
    const { session, subject } = record(actor, `${path}.actor`, ['session', 'subject']);
    const subjectText = quotedText(subject, `${path}.actor.subject`);
    const sessionText = session === null ? 'null' : quotedText(session, `${path}.actor.session`);
    actorText = `{"session":${sessionText},"subject":${subjectText}}`;
  }
  let tenantText = 'null';
  if (tenant !== null) {
    const { org, workspace } = record(tenant, `${path}.tenant`, ['org', 'workspace']);
    const orgText = quotedText(org, `${path}.tenant.org`);
    const workspaceText = workspace === null ? 'null' : quotedText(workspace, `${path}.tenant.workspace`);
    tenantText = `{"org":${orgText},"workspace":${workspaceText}}`;
  }
  let resourceText = 'null';
  if (resource !== null) {
    const { id, type } = record(resource, `${path}.resource`, ['id', 'type']);
    const typeText = quotedText(type, `${path}.resource.type`);
    resourceText = `{"id":${quotedText(id, `${path}.resource.id`)},"type":${typeText}}`;
  }
  const requestIdText = requestId === null ? 'null' : quotedText(requestId, `${path}.requestId`);
  if (outcome !== null && (typeof outcome !== 'string' || !OUTCOMES.has(outcome))) {
    throw new TypeError(`${path}.outcome must be ok, failed, aborted or null`);
  }
  if (kind === 'outcome' && outcome === null) throw new TypeError(`${path}.outcome is required for an outcome entry`);
  if (kind === 'intent' && outcome !== null) throw new TypeError(`${path}.outcome must be null for an intent entry`);
  // An intent is closed by the outcome with its request id: without one it could never be closed.
  if ((kind === 'intent' || kind === 'outcome') && requestId === null) {
    throw new TypeError(`${path}.requestId is required for an ${kind} entry`);
  }
  if (inputDigest !== null && !isDigest(inputDigest)) {
    throw new TypeError(`${path}.inputDigest must be "hmac-sha256:" (or "sha256:") and 64 lowercase hex digits, or null`);
  }
  const dataText = data === null ? 'null' : json(data, `${path}.data`, 0);
  // kind, outcome and inputDigest were checked against fixed sets / a pattern: nothing in them to escape.
  return {
    head: `{"action":${actionText},"actor":${actorText},"at":`,
    mid:
      `,"data":${dataText},"inputDigest":${inputDigest === null ? 'null' : `"${inputDigest as string}"`},"kind":"${kind}",` +
      `"outcome":${outcome === null ? 'null' : `"${outcome}"`},"requestId":${requestIdText},"resource":${resourceText},"seq":`,
    tail: `,"tenant":${tenantText},"v":1}`,
    kind: kind as LedgerEntryKind,
    requestId: requestId as string | null,
  };
}

/**
 * `hmac-sha256:` or `sha256:` and 64 lowercase hex digits, written out (a regex cost more than the rest of an
 * entry's checks together).
 */
function isDigest(value: unknown): boolean {
  if (typeof value !== 'string') return false;
  const start = value.startsWith('hmac-sha256:') ? 12 : value.startsWith('sha256:') ? 7 : -1;
  if (start < 0 || value.length !== start + 64) return false;
  for (let i = start; i < value.length; i += 1) {
    const c = value.charCodeAt(i);
    if (!((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66))) return false;
  }
  return true;
}

/**
 * Checks a text member (1 to MAX_TEXT UTF-16 code units, no control character U+0000–U+001F or U+007F, no
 * lone surrogate) and returns it as JSON.stringify quotes it, in one pass over its code units: the regex,
 * isWellFormed and JSON.stringify it replaces were most of the cost of validating an entry. Only `"` and `\`
 * need escaping in a valid text; then JSON.stringify does it.
 */
function quotedText(value: unknown, path: string): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_TEXT) throw textError(path);
  let plain = true;
  for (let i = 0; i < value.length; i += 1) {
    const c = value.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) throw textError(path);
    if (c === 0x22 || c === 0x5c) plain = false;
    else if (c >= 0xd800 && c <= 0xdfff) {
      // Well-formed only as a high surrogate followed by a low one (charCodeAt past the end is NaN).
      const next = value.charCodeAt(i + 1);
      if (c > 0xdbff || !(next >= 0xdc00 && next <= 0xdfff)) throw textError(path);
      i += 1;
    }
  }
  return plain ? `"${value}"` : JSON.stringify(value);
}

function textError(path: string): TypeError {
  return new TypeError(`${path} must be a non-empty string of at most ${MAX_TEXT} characters without control characters`);
}

/**
 * Validates JSON data (finite numbers, well-formed strings and keys, plain objects, dense arrays, nesting ≤
 * MAX_DEPTH) and returns its canonical JSON in the same pass: exactly canonicalJson's output (keys sorted by
 * UTF-16 code units, JSON.stringify for strings and numbers). Each value is read once.
 */
function json(value: unknown, path: string, depth: number): string {
  if (depth > MAX_DEPTH) throw new TypeError(`${path} nests deeper than ${MAX_DEPTH}`);
  if (value === null) return 'null';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new TypeError(`${path} must be a finite number`);
    return JSON.stringify(value);
  }
  if (typeof value === 'string') {
    if (!isWellFormed(value)) throw new TypeError(`${path} must be well-formed Unicode`);
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) {
    const items: string[] = [];
    for (let i = 0; i < value.length; i += 1) {
      if (!(i in value)) throw new TypeError(`${path} must not be sparse`);
      items.push(json(value[i], `${path}[${i}]`, depth + 1));
    }
    return `[${items.join(',')}]`;
  }
  if (typeof value === 'object') {
    const prototype = Object.getPrototypeOf(value);
    if (prototype !== Object.prototype && prototype !== null) throw new TypeError(`${path} must be plain JSON data`);
    const members: Array<[string, string]> = [];
    for (const [key, item] of Object.entries(value)) {
      if (!isWellFormed(key)) throw new TypeError(`${path} has a key that is not well-formed Unicode`);
      if (item === undefined) throw new TypeError(`${path}.${key} is undefined (use null)`);
      members.push([key, json(item, `${path}.${key}`, depth + 1)]);
    }
    members.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${members.map(([key, item]) => `${JSON.stringify(key)}:${item}`).join(',')}}`;
  }
  throw new TypeError(`${path} must be JSON data`);
}

/** The last `at` found valid: a batch's entries share one, so the date arithmetic runs once per batch. */
let lastInstant = '';

function isInstant(at: string): boolean {
  if (at === lastInstant) return true;
  if (!ISO.test(at) || !isIsoInstant(at)) return false;
  lastInstant = at;
  return true;
}

function isIsoInstant(at: string): boolean {
  const time = Date.parse(at);
  return Number.isFinite(time) && new Date(time).toISOString() === at;
}
