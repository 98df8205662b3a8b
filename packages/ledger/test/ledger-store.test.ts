import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import {
  LogError,
  createLedgerStore,
  decodeEntry,
  encodeEntry,
  entryLeafHash,
  leafHash,
  verifyLedger,
  type LedgerEntry,
} from '../src/index.ts';
import { ORIGIN, VERIFY, createTempDatabases, sample, signer } from './ledger-fixtures.ts';

const temp = createTempDatabases();
afterEach(() => temp.dispose());

const ENTRY: LedgerEntry = { v: 1, seq: 3, at: '2026-01-02T03:04:05.678Z', ...sample(3) };

describe('entry encoding', () => {
  it('is the UTF-8 of canonical JSON: keys sorted, no white space, every member present', () => {
    const text = new TextDecoder().decode(encodeEntry(ENTRY));
    expect(text).toBe(
      '{"action":"orders.place","actor":{"session":"sess_1","subject":"user_1"},"at":"2026-01-02T03:04:05.678Z","data":null,' +
        `"inputDigest":"sha256:${'ab'.repeat(32)}","kind":"intent","outcome":null,"requestId":"req_3",` +
        '"resource":{"id":"ord_3","type":"order"},"seq":3,"tenant":{"org":"org_a","workspace":null},"v":1}',
    );
    expect(entryLeafHash(ENTRY)).toEqual(leafHash(encodeEntry(ENTRY)));
    expect(decodeEntry(encodeEntry(ENTRY))).toEqual(ENTRY);
  });

  it('binds the index: the same entry at another seq has another leaf', () => {
    expect(entryLeafHash({ ...ENTRY, seq: 4 })).not.toEqual(entryLeafHash(ENTRY));
  });

  it.each([
    ['a missing member', (({ data: _data, ...rest }) => rest)(ENTRY)],
    ['an extra member', { ...ENTRY, token: 'x' }],
    ['another version', { ...ENTRY, v: 2 }],
    ['a negative seq', { ...ENTRY, seq: -1 }],
    ['a non-ISO time', { ...ENTRY, at: '2026-01-02 03:04:05' }],
    ['an impossible date', { ...ENTRY, at: '2026-02-30T00:00:00.000Z' }],
    ['an unknown kind', { ...ENTRY, kind: 'other' }],
    ['an empty action', { ...ENTRY, action: '' }],
    ['an action with a newline', { ...ENTRY, action: 'a\nb' }],
    ['an actor without session', { ...ENTRY, actor: { subject: 'u' } }],
    ['a raw input instead of a digest', { ...ENTRY, inputDigest: '{"password":"hunter2"}' }],
    ['an intent with an outcome', { ...ENTRY, outcome: 'ok' }],
    ['an outcome without outcome', { ...ENTRY, kind: 'outcome', outcome: null }],
    ['a non-finite number in data', { ...ENTRY, data: { n: Number.NaN } }],
    ['a lone surrogate in data', { ...ENTRY, data: '\uD800' }],
    ['a Date in data', { ...ENTRY, data: new Date(0) }],
  ])('refuses %s with TypeError', (_name, value) => {
    expect(() => encodeEntry(value as LedgerEntry)).toThrow(TypeError);
  });

  it('refuses an encoding over 64 KiB', () => {
    expect(() => encodeEntry({ ...ENTRY, data: 'x'.repeat(70_000) })).toThrow(/exceeds/);
  });

  it.each([
    ['white space', (text: string) => text.replace('{', '{ ')],
    ['keys out of order', (text: string) => JSON.stringify(JSON.parse(text), ['v', ...Object.keys(JSON.parse(text))])],
    ['a member added', (text: string) => text.replace('"v":1}', '"v":1,"x":1}')],
    ['not JSON', (text: string) => text.slice(1)],
  ])('decodeEntry refuses stored bytes with %s (LogError, one entry has one encoding)', (_name, mutate) => {
    const text = mutate(new TextDecoder().decode(encodeEntry(ENTRY)));
    expect(() => decodeEntry(new TextEncoder().encode(text))).toThrow(LogError);
  });
});

// The store's contract on both dialects (append, checkpoints, proofs, failed batches, reopening, read-only,
// misuse, tampering) is the conformance suite (ledger.conformance.*.test.ts); what stays here is SQLite's own.
describe('createLedgerStore', () => {
  it('group commit: 200 concurrent appends share a few transactions; seqs are unique and gap-free', async () => {
    const db = await temp.open();
    let begins = 0;
    const counting = db.withPlugin({
      transformQuery(args) {
        if (args.node.kind === 'RawNode' && /^begin immediate$/i.test(args.node.sqlFragments.join(''))) begins += 1;
        return args.node;
      },
      async transformResult(args) {
        return args.result;
      },
    });
    const store = await createLedgerStore({ db: counting, origin: ORIGIN, signer });
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => store.append([sample(i)])));
    const seqs = results.flat();
    expect([...seqs].sort((a, b) => a - b)).toEqual(Array.from({ length: 200 }, (_, i) => i));
    // Each caller got the seq of its own entry.
    for (const [i, [seq]] of results.entries()) expect((await store.readEntry(seq!)).entry.requestId).toBe(`req_${i}`);
    expect(begins).toBeGreaterThan(0);
    expect(begins).toBeLessThanOrEqual(2);
    const checkpoints = await db.selectFrom('ledger_checkpoints').select('size').execute();
    expect(checkpoints.length).toBe(begins);
    expect(await verifyLedger(db, VERIFY)).toEqual({ ok: true, size: 200, checkpoints: checkpoints.length });
  });

  it('two processes appending to one file concurrently get unique, gap-free seqs and a verifying log', async () => {
    const url = temp.path();
    await temp.open(url);
    const script = fileURLToPath(new URL('./fixtures/append-file.ts', import.meta.url));
    const startAt = String(Date.now() + 2000);
    const run = (tag: string) =>
      new Promise<number[]>((resolve, reject) => {
        execFile(process.execPath, ['--import', 'tsx', script, url, startAt, '100', tag], { cwd: fileURLToPath(new URL('.', import.meta.url)) }, (error, stdout, stderr) =>
          error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(JSON.parse(stdout) as number[]),
        );
      });
    const [a, b] = await Promise.all([run('a'), run('b')]);
    expect(a).toHaveLength(100);
    expect(b).toHaveLength(100);
    expect([...a, ...b].sort((x, y) => x - y)).toEqual(Array.from({ length: 200 }, (_, i) => i));
    const db = await temp.open(url);
    expect(await verifyLedger(db, VERIFY)).toMatchObject({ ok: true, size: 200 });
  }, 30_000);
});
