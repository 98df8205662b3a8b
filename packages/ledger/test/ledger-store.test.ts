import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import {
  LogError,
  createCheckpointSigner,
  createLedgerStore,
  decodeEntry,
  encodeEntry,
  entryLeafHash,
  leafHash,
  verifyBundle,
  verifyCheckpoint,
  verifyConsistency,
  verifyLedger,
  type CheckpointSigner,
  type LedgerEntry,
} from '../src/index.ts';
import { KEY, ORIGIN, VERIFY, createTempDatabases, fixedClock, sample, signer } from './ledger-fixtures.ts';

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

describe('createLedgerStore', () => {
  it('appends, seals each batch with a signed checkpoint, and proves inclusion and consistency offline', async () => {
    const db = await temp.open();
    const store = await createLedgerStore({ db, origin: ORIGIN, signer, clock: fixedClock });
    expect(await store.latestCheckpoint()).toBeNull();
    expect(await store.append([sample(0), sample(1), sample(2)])).toEqual([0, 1, 2]);
    const first = (await store.latestCheckpoint())!;
    expect(first.checkpoint.size).toBe(3);
    expect(verifyCheckpoint(first.note, KEY).ok).toBe(true);
    expect(await store.append([sample(3, { kind: 'outcome', outcome: 'ok' })])).toEqual([3]);
    expect(await store.size()).toBe(4);

    for (let seq = 0; seq < 4; seq += 1) {
      const bundle = JSON.parse(JSON.stringify(await store.inclusionBundle(seq)));
      const { bytes, entry } = await store.readEntry(seq);
      expect(entry.seq).toBe(seq);
      expect(entry.at).toBe('2026-01-02T03:04:05.678Z');
      expect(verifyBundle(bundle, KEY, bytes)).toMatchObject({ ok: true, leafIndex: seq });
      // The bytes of another entry do not pass for this one.
      const other = (await store.readEntry((seq + 1) % 4)).bytes;
      expect(verifyBundle(bundle, KEY, other).ok).toBe(false);
    }
    const latest = (await store.latestCheckpoint())!;
    const proof = await store.consistencyProof(3, 4);
    expect(
      verifyConsistency({ size1: 3, size2: 4, root1: first.checkpoint.root, root2: latest.checkpoint.root, proof }),
    ).toEqual({ ok: true });
    expect(await verifyLedger(db, VERIFY)).toEqual({ ok: true, size: 4, checkpoints: 2 });
    await store.close();
  });

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

  it('appends arriving during a flush form the next batch', async () => {
    const db = await temp.open();
    const store = await createLedgerStore({ db, origin: ORIGIN, signer });
    const first = store.append([sample(0)]);
    await new Promise((resolve) => setImmediate(resolve));
    const later = await Promise.all(Array.from({ length: 50 }, (_, i) => store.append([sample(i + 1)])));
    await first;
    expect(later.flat()).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect((await db.selectFrom('ledger_checkpoints').select('size').execute()).length).toBeLessThanOrEqual(3);
  });

  it('a failed flush rejects every caller of that batch, stores nothing of it, and the store stays usable', async () => {
    const db = await temp.open();
    let fail = false;
    const flaky: CheckpointSigner = {
      name: signer.name,
      keyId: signer.keyId,
      publicKey: signer.publicKey,
      sign(checkpoint) {
        if (fail) {
          fail = false;
          throw new Error('HSM unavailable');
        }
        return signer.sign(checkpoint);
      },
    };
    const store = await createLedgerStore({ db, origin: ORIGIN, signer: flaky });
    expect(await store.append([sample(0)])).toEqual([0]);
    fail = true;
    const batch = await Promise.allSettled([store.append([sample(1)]), store.append([sample(2), sample(3)])]);
    expect(batch.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(await store.size()).toBe(1);
    expect((await db.selectFrom('ledger_entries').select('seq').execute()).map((r) => r.seq)).toEqual([0]);
    expect(await store.append([sample(4)])).toEqual([1]);
    const bundle = await store.inclusionBundle(1);
    expect(verifyBundle(bundle, KEY, (await store.readEntry(1)).bytes).ok).toBe(true);
    expect(await verifyLedger(db, VERIFY)).toEqual({ ok: true, size: 2, checkpoints: 2 });
  });

  it('an invalid entry rejects its caller with TypeError and does not fail the batch it would have joined', async () => {
    const db = await temp.open();
    const store = await createLedgerStore({ db, origin: ORIGIN, signer });
    const [good, bad] = await Promise.allSettled([
      store.append([sample(0)]),
      store.append([sample(1, { inputDigest: 'hunter2' })]),
    ]);
    expect(good).toEqual({ status: 'fulfilled', value: [0] });
    expect(bad.status === 'rejected' && bad.reason).toBeInstanceOf(TypeError);
    expect(String(bad.status === 'rejected' && bad.reason)).not.toContain('hunter2');
  });

  it('reopens an existing log and continues its sequence', async () => {
    const url = temp.path();
    const db = await temp.open(url);
    const store = await createLedgerStore({ db, origin: ORIGIN, signer });
    await store.append([sample(0), sample(1)]);
    await store.close();
    const again = await createLedgerStore({ db: await temp.open(url), origin: ORIGIN, signer });
    expect(await again.append([sample(2)])).toEqual([2]);
    await expect(store.append([sample(3)])).rejects.toMatchObject({ code: 'ERR_LEDGER_LOG_CLOSED' });
  });

  it('refuses to open a log whose leaf hashes do not have the latest checkpoint root', async () => {
    const db = await temp.open();
    const store = await createLedgerStore({ db, origin: ORIGIN, signer });
    await store.append([sample(0), sample(1)]);
    await sql`drop trigger ledger_entries_no_update`.execute(db);
    await sql`update ledger_entries set leaf_hash = ${new Uint8Array(32)} where seq = 1`.execute(db);
    await expect(createLedgerStore({ db, origin: ORIGIN, signer })).rejects.toMatchObject({ code: 'ERR_LEDGER_LOG_ROOT_MISMATCH' });
  });

  it('refuses to open with another key than the one that signed the log', async () => {
    const db = await temp.open();
    await (await createLedgerStore({ db, origin: ORIGIN, signer })).append([sample(0)]);
    const other = createCheckpointSigner({ name: ORIGIN, privateKey: new Uint8Array(32).fill(9) });
    await expect(createLedgerStore({ db, origin: ORIGIN, signer: other })).rejects.toBeInstanceOf(LogError);
  });

  it('without a signer is read-only but serves proofs', async () => {
    const db = await temp.open();
    await (await createLedgerStore({ db, origin: ORIGIN, signer })).append([sample(0), sample(1)]);
    const reader = await createLedgerStore({ db, origin: ORIGIN });
    await expect(reader.append([sample(2)])).rejects.toMatchObject({ code: 'ERR_LEDGER_LOG_READ_ONLY' });
    expect(verifyBundle(await reader.inclusionBundle(1), KEY).ok).toBe(true);
    await expect(reader.inclusionBundle(2)).rejects.toBeInstanceOf(RangeError);
  });

  it('refuses misuse with TypeError', async () => {
    const db = await temp.open();
    await expect(createLedgerStore({ db, origin: '', signer })).rejects.toBeInstanceOf(TypeError);
    const store = await createLedgerStore({ db, origin: ORIGIN, signer });
    await expect(store.append('x' as never)).rejects.toBeInstanceOf(TypeError);
    await expect(store.inclusionBundle(-1)).rejects.toBeInstanceOf(TypeError);
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
