/**
 * A deterministic ledger history covering what the stored format has to get right: every kind, null and
 * non-null members, text needing JSON escapes, non-ASCII and astral text, `data` with integer-like keys,
 * odd numbers, control characters and deep nesting, 512-character texts, a batch large enough to span
 * several INSERT statements, and units of work whose savepoints roll entries back. `runFormatScenario` drives
 * it through a ledger implementation (passed in, so that the fixture in fixtures/ledger-v1 could be written
 * by the implementation before the append path was rewritten) and `dumpLog` reads back every stored byte.
 *
 * Fixed clock and key (Ed25519 is deterministic): the same implementation always stores the same bytes,
 * checkpoint notes included.
 */
import { createHash } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Clock } from '@covenant/core';
import type { CheckpointSigner, LedgerStore, LedgerStoreOptions, NewEntry } from '../src/index.ts';

export const FORMAT_ORIGIN = 'format.example/ledger';
/** A fixed test key (never a real one): 32 bytes 0x2a. */
export const FORMAT_SEED = new Uint8Array(32).fill(0x2a);

interface LedgerModule {
  createLedgerStore(options: LedgerStoreOptions): Promise<LedgerStore>;
  createCheckpointSigner(options: { name: string; privateKey: Uint8Array }): CheckpointSigner;
}

/** One call of `now()` per batch; each call is one second and one millisecond later. */
export function steppingClock(start = Date.parse('2026-03-04T05:06:07.089Z')): Clock {
  let next = start;
  return {
    now: () => {
      const at = new Date(next);
      next += 1001;
      return at;
    },
  };
}

const DIGEST = `sha256:${'0123456789abcdef'.repeat(4)}`;

function plain(n: number, overrides: Partial<NewEntry> = {}): NewEntry {
  const kinds = ['intent', 'outcome', 'denial', 'event'] as const;
  const kind = kinds[n % 4]!;
  return {
    kind,
    action: n % 3 === 0 ? 'orders.place' : 'notes.add',
    actor: n % 5 === 4 ? null : { subject: `user_${n % 7}`, session: n % 2 === 0 ? `sess_${n}` : null },
    tenant: n % 6 === 5 ? null : { org: 'org_a', workspace: n % 3 === 0 ? null : `ws_${n % 4}` },
    resource: n % 4 === 3 ? null : { type: 'order', id: `ord_${n}` },
    requestId: kind === 'intent' || kind === 'outcome' ? `req_${n >> 1}` : n % 2 === 0 ? null : `req_x${n}`,
    outcome: kind === 'outcome' ? (['ok', 'failed', 'aborted'] as const)[n % 3]! : kind === 'intent' ? null : n % 2 === 0 ? null : 'ok',
    inputDigest: n % 3 === 1 ? null : DIGEST,
    data: n % 5 === 0 ? null : n % 5 === 1 ? { call: 'mutation' } : n % 5 === 2 ? { code: 'ERR_INPUT_INVALID' } : n % 5 === 3 ? [n, -n / 4, `s${n}`] : n,
    ...overrides,
  };
}

/** Deeply nested data: 32 levels below `data` is the deepest allowed. */
function nested(depth: number): NewEntry['data'] {
  let value: NewEntry['data'] = 'bottom';
  for (let i = 0; i < depth; i += 1) value = i % 2 === 0 ? [value] : { k: value };
  return value;
}

const TRICKY: NewEntry[] = [
  plain(1, {
    action: 'notes.édit',
    actor: { subject: 'ユーザー_1', session: 'sess_😀' },
    tenant: { org: 'org_ü', workspace: null },
    resource: { type: 'order', id: 'ord_"1"\\x' },
    requestId: 'req_\u2028\u00e9',
    data: {
      10: 1,
      9: 2,
      b: [1, 2.5, -0, 1e21, 1e-7, 0.1, -1.5e-300, true, false, null, '\n\u0001\u001f\u007f\u2028\u2029"\\/', '😀', ''],
      a: { z: null, é: 'x', '': 0, 'A': 'upper', '\u0000key': 1 },
    },
  }),
  plain(2, { kind: 'event', actor: null, tenant: null, resource: null, requestId: null, outcome: null, inputDigest: null, data: null }),
  plain(3, { kind: 'denial', outcome: null, data: { code: 'ERR_FORBIDDEN', capability: 'orders:place', resourceType: null } }),
  plain(4, { action: 'a'.repeat(512), actor: { subject: 'é'.repeat(512), session: '😀'.repeat(256) }, data: nested(32) }),
];

/** Drives the history; resolves once everything has committed. */
export async function runFormatScenario(ledger: LedgerModule, db: Kysely<any>): Promise<void> {
  const signer = ledger.createCheckpointSigner({ name: FORMAT_ORIGIN, privateKey: FORMAT_SEED });
  const store = await ledger.createLedgerStore({ db, origin: FORMAT_ORIGIN, signer, clock: steppingClock() });
  await store.append([plain(0), plain(1), plain(2)]);
  await store.append(TRICKY);
  // One batch of 1,203 entries: several multi-row INSERT statements, and a remainder.
  await store.append(Array.from({ length: 1203 }, (_, i) => plain(10 + i)));
  // Units of work and appends of one tick form one batch; failed savepoints and units leave no entry.
  await Promise.allSettled([
    store.transact(async (tx) => {
      tx.append([plain(2000), plain(2001)]);
      await tx
        .savepoint(async () => {
          tx.append([plain(2002)]);
          throw new Error('rolled back');
        })
        .catch(() => undefined);
      tx.append([plain(2003)]);
    }),
    store.append([plain(2004)]),
    store.transact(async (tx) => {
      tx.append([plain(2005)]);
      throw new Error('the whole unit rolls back');
    }),
    store.append([plain(2006), plain(2007)]),
  ]);
  for (let i = 0; i < 5; i += 1) await store.append([plain(3000 + i)]);
  await store.close();
}

export interface DumpedLog {
  readonly entries: ReadonlyArray<{ seq: number; body: string; leafHash: string; kind: string; requestId: string | null; at: string }>;
  readonly checkpoints: ReadonlyArray<{ size: number; root: string; note: string; at: string }>;
}

/**
 * What fixtures/ledger-v1/log.json keeps of a dump: the first rows in full (bodies as text), every checkpoint,
 * and a SHA-256 over all entry rows (the whole dump is 0.7 MB; equal digests mean equal bytes).
 */
export interface LogSummary {
  readonly entries: number;
  readonly entriesSha256: string;
  readonly head: ReadonlyArray<{ seq: number; body: string; leafHash: string; kind: string; requestId: string | null; at: string }>;
  readonly checkpoints: DumpedLog['checkpoints'];
}

export function summarize(dump: DumpedLog, headRows = 7): LogSummary {
  return {
    entries: dump.entries.length,
    entriesSha256: createHash('sha256').update(JSON.stringify(dump.entries)).digest('hex'),
    head: dump.entries.slice(0, headRows).map((row) => ({ ...row, body: Buffer.from(row.body, 'base64').toString('utf8') })),
    checkpoints: dump.checkpoints,
  };
}

/** Every stored column of both tables, bytes as base64, in order. */
export async function dumpLog(db: Kysely<any>): Promise<DumpedLog> {
  const base64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64');
  const entries = await db.selectFrom('ledger_entries').select(['seq', 'body', 'leaf_hash', 'kind', 'request_id', 'at']).orderBy('seq').execute();
  const checkpoints = await db.selectFrom('ledger_checkpoints').select(['size', 'root', 'note', 'at']).orderBy('size').execute();
  return {
    entries: entries.map((row) => ({
      seq: Number(row.seq),
      body: base64(row.body),
      leafHash: base64(row.leaf_hash),
      kind: row.kind,
      requestId: row.request_id,
      at: row.at,
    })),
    checkpoints: checkpoints.map((row) => ({ size: Number(row.size), root: base64(row.root), note: row.note, at: row.at })),
  };
}
