import { canonicalJson } from '@covenant/contract/manifest';
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
  /** `sha256:` and 64 lowercase hex digits: the digest of the redacted input. */
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
const DIGEST = /^sha256:[0-9a-f]{64}$/;
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const CONTROL = /[\u0000-\u001F\u007F]/;
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
  const entry = record(value, 'entry', KEYS);
  if (entry.v !== 1) throw new TypeError('entry.v must be 1');
  if (!Number.isSafeInteger(entry.seq) || (entry.seq as number) < 0) throw new TypeError('entry.seq must be a non-negative safe integer');
  if (typeof entry.at !== 'string' || !ISO.test(entry.at) || !isIsoInstant(entry.at)) {
    throw new TypeError('entry.at must be an ISO 8601 UTC instant as toISOString() writes it');
  }
  assertBody(entry, 'entry');
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
  assertBody(record(value, 'entry', NEW_KEYS), 'entry');
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
  assertEntry(entry);
  const bytes = utf8(canonicalJson(entry));
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

const DECODER = new TextDecoder('utf-8', { fatal: true });

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
  try {
    assertEntry(value);
  } catch (error) {
    throw new LogError('ERR_LEDGER_LOG_ENTRY_MALFORMED', `the entry is invalid: ${(error as Error).message}`);
  }
  if (canonicalJson(value) !== text || bytes.length > MAX_ENTRY_BYTES) {
    throw new LogError('ERR_LEDGER_LOG_ENTRY_MALFORMED', 'the entry is not in its canonical encoding');
  }
  return value;
}

function record(value: unknown, path: string, keys: readonly string[]): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new TypeError(`${path} must be an object`);
  const prototype = Object.getPrototypeOf(value);
  if (prototype !== Object.prototype && prototype !== null) throw new TypeError(`${path} must be a plain object`);
  const own = Object.keys(value);
  for (const key of own) if (!keys.includes(key)) throw new TypeError(`${path}.${key} is not a member`);
  for (const key of keys) if (!Object.hasOwn(value, key)) throw new TypeError(`${path}.${key} is required (use null)`);
  return value as Record<string, unknown>;
}

function assertBody(entry: Record<string, unknown>, path: string): void {
  if (typeof entry.kind !== 'string' || !KINDS.has(entry.kind)) throw new TypeError(`${path}.kind must be intent, outcome, denial or event`);
  text(entry.action, `${path}.action`);
  if (entry.actor !== null) {
    const actor = record(entry.actor, `${path}.actor`, ['session', 'subject']);
    text(actor.subject, `${path}.actor.subject`);
    if (actor.session !== null) text(actor.session, `${path}.actor.session`);
  }
  if (entry.tenant !== null) {
    const tenant = record(entry.tenant, `${path}.tenant`, ['org', 'workspace']);
    text(tenant.org, `${path}.tenant.org`);
    if (tenant.workspace !== null) text(tenant.workspace, `${path}.tenant.workspace`);
  }
  if (entry.resource !== null) {
    const resource = record(entry.resource, `${path}.resource`, ['id', 'type']);
    text(resource.type, `${path}.resource.type`);
    text(resource.id, `${path}.resource.id`);
  }
  if (entry.requestId !== null) text(entry.requestId, `${path}.requestId`);
  if (entry.outcome !== null && (typeof entry.outcome !== 'string' || !OUTCOMES.has(entry.outcome))) {
    throw new TypeError(`${path}.outcome must be ok, failed, aborted or null`);
  }
  if (entry.kind === 'outcome' && entry.outcome === null) throw new TypeError(`${path}.outcome is required for an outcome entry`);
  if (entry.kind === 'intent' && entry.outcome !== null) throw new TypeError(`${path}.outcome must be null for an intent entry`);
  // An intent is closed by the outcome with its request id: without one it could never be closed.
  if ((entry.kind === 'intent' || entry.kind === 'outcome') && entry.requestId === null) {
    throw new TypeError(`${path}.requestId is required for an ${entry.kind} entry`);
  }
  if (entry.inputDigest !== null && (typeof entry.inputDigest !== 'string' || !DIGEST.test(entry.inputDigest))) {
    throw new TypeError(`${path}.inputDigest must be "sha256:" and 64 lowercase hex digits, or null`);
  }
  json(entry.data, `${path}.data`, 0);
}

function text(value: unknown, path: string): void {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_TEXT || CONTROL.test(value) || !isWellFormed(value)) {
    throw new TypeError(`${path} must be a non-empty string of at most ${MAX_TEXT} characters without control characters`);
  }
}

function json(value: unknown, path: string, depth: number): void {
  if (depth > MAX_DEPTH) throw new TypeError(`${path} nests deeper than ${MAX_DEPTH}`);
  if (value === null || typeof value === 'boolean') return;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new TypeError(`${path} must be a finite number`);
    return;
  }
  if (typeof value === 'string') {
    if (!isWellFormed(value)) throw new TypeError(`${path} must be well-formed Unicode`);
    return;
  }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i += 1) {
      if (!(i in value)) throw new TypeError(`${path} must not be sparse`);
      json(value[i], `${path}[${i}]`, depth + 1);
    }
    return;
  }
  if (typeof value === 'object') {
    const prototype = Object.getPrototypeOf(value);
    if (prototype !== Object.prototype && prototype !== null) throw new TypeError(`${path} must be plain JSON data`);
    for (const [key, item] of Object.entries(value)) {
      if (!isWellFormed(key)) throw new TypeError(`${path} has a key that is not well-formed Unicode`);
      if (item === undefined) throw new TypeError(`${path}.${key} is undefined (use null)`);
      json(item, `${path}.${key}`, depth + 1);
    }
    return;
  }
  throw new TypeError(`${path} must be JSON data`);
}

function isIsoInstant(at: string): boolean {
  const time = Date.parse(at);
  return Number.isFinite(time) && new Date(time).toISOString() === at;
}
