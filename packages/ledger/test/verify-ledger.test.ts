import { sql, type Kysely } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createCheckpointSigner,
  createLedgerStore,
  createMerkleTree,
  encodeEntry,
  leafHash,
  verifyLedger,
  type LedgerTables,
} from '../src/index.ts';
import { ORIGIN, VERIFY, createTempDatabases, fixedClock, sample, signer } from './ledger-fixtures.ts';

const temp = createTempDatabases();
afterEach(() => temp.dispose());

/** Batches of these sizes: checkpoints at 3, 7, 8, 13, 15. */
const BATCHES = [3, 4, 1, 5, 2];
const SIZE = 15;

async function honestLog(): Promise<Kysely<LedgerTables>> {
  const db = await temp.open();
  const store = await createLedgerStore({ db, origin: ORIGIN, signer, clock: fixedClock });
  let n = 0;
  for (const count of BATCHES) {
    await store.append(Array.from({ length: count }, () => sample(n++)));
  }
  await store.close();
  return db;
}

/** An attacker with write access to the file: the append-only triggers are no obstacle. */
/** Drops the append-only triggers; returns how to put them back exactly (the same SQL text). */
async function dropTriggers(db: Kysely<LedgerTables>): Promise<() => Promise<void>> {
  const { rows } = await sql<{ sql: string }>`select sql from sqlite_master where type = 'trigger' and tbl_name like 'ledger_%' order by name`.execute(db);
  for (const table of ['ledger_entries', 'ledger_checkpoints']) {
    for (const suffix of ['no_update', 'no_delete', 'no_replace']) await sql`drop trigger ${sql.raw(`${table}_${suffix}`)}`.execute(db);
  }
  return async () => {
    for (const row of rows) await sql.raw(row.sql).execute(db);
  };
}

async function body(db: Kysely<LedgerTables>, seq: number): Promise<Uint8Array> {
  const row = await db.selectFrom('ledger_entries').select('body').where('seq', '=', seq).executeTakeFirstOrThrow();
  return new Uint8Array(row.body);
}

async function note(db: Kysely<LedgerTables>, size: number): Promise<string> {
  return (await db.selectFrom('ledger_checkpoints').select('note').where('size', '=', size).executeTakeFirstOrThrow()).note;
}

describe('verifyLedger', () => {
  it('accepts an honest log with any page size, reporting progress', async () => {
    const db = await honestLog();
    for (const pageSize of [1, 4, 7, 100]) {
      const progress: number[] = [];
      const result = await verifyLedger(db, { ...VERIFY, pageSize, onProgress: ({ verified }) => progress.push(verified) });
      expect(result).toEqual({ ok: true, size: SIZE, checkpoints: BATCHES.length });
      expect(progress.at(-1)).toBe(SIZE);
    }
  });

  it('verifies one snapshot while another connection keeps appending', async () => {
    const url = temp.path();
    const writerDb = await temp.open(url);
    const writer = await createLedgerStore({ db: writerDb, origin: ORIGIN, signer });
    await writer.append(Array.from({ length: 20 }, (_, i) => sample(i)));
    const reader = await temp.open(url);
    const appended: Promise<unknown>[] = [];
    const result = await verifyLedger(reader, { ...VERIFY, pageSize: 3, onProgress: () => void appended.push(writer.append([sample(99)])) });
    await Promise.all(appended);
    expect(appended.length).toBeGreaterThan(3);
    expect(result).toEqual({ ok: true, size: 20, checkpoints: 1 });
    expect(await verifyLedger(reader, VERIFY)).toMatchObject({ ok: true, size: 20 + appended.length });
  });

  it('accepts an empty log', async () => {
    expect(await verifyLedger(await temp.open(), VERIFY)).toEqual({ ok: true, size: 0, checkpoints: 0 });
  });

  it('the append-only triggers refuse update, delete and replace', async () => {
    const db = await honestLog();
    await expect(sql`update ledger_entries set kind = 'event' where seq = 1`.execute(db)).rejects.toThrow(/append-only/);
    await expect(sql`delete from ledger_entries where seq = 14`.execute(db)).rejects.toThrow(/append-only/);
    await expect(sql`insert or replace into ledger_entries values (1, x'00', x'00', 'event', null, 'now')`.execute(db)).rejects.toThrow(/append-only/);
    await expect(sql`insert into ledger_entries values (16, x'00', x'00', 'event', null, 'now')`.execute(db)).rejects.toThrow(/gap-free/);
    await expect(sql`update ledger_checkpoints set note = '' where size = 3`.execute(db)).rejects.toThrow(/append-only/);
    await expect(sql`delete from ledger_checkpoints where size = 15`.execute(db)).rejects.toThrow(/append-only/);
    await expect(sql`insert or replace into ledger_checkpoints values (15, x'00', '', 'now')`.execute(db)).rejects.toThrow(/append-only/);
  });

  describe('tamper suite (the attacker drops the triggers first)', () => {
    it('flipping one byte of any stored entry body fails and names that index', async () => {
      const db = await honestLog();
      await dropTriggers(db);
      for (let seq = 0; seq < SIZE; seq += 1) {
        const original = await body(db, seq);
        for (const position of [0, (seq * 37) % original.length, original.length - 1]) {
          const tampered = original.slice();
          tampered[position]! ^= 0x01;
          await sql`update ledger_entries set body = ${tampered} where seq = ${seq}`.execute(db);
          const result = await verifyLedger(db, VERIFY);
          expect(result).toMatchObject({ ok: false, index: seq });
        }
        await sql`update ledger_entries set body = ${original} where seq = ${seq}`.execute(db);
      }
      expect((await verifyLedger(db, VERIFY)).ok).toBe(true);
    });

    it('an edited entry with its leaf hash recomputed fails at the checkpoint that sealed it', async () => {
      const db = await honestLog();
      await dropTriggers(db);
      const forged = encodeEntry({ v: 1, seq: 9, at: fixedClock.now().toISOString(), ...sample(9, { action: 'orders.cancel' }) });
      await sql`update ledger_entries set body = ${forged}, leaf_hash = ${leafHash(forged)} where seq = 9`.execute(db);
      expect(await verifyLedger(db, VERIFY)).toMatchObject({ ok: false, index: 8, checkpointSize: 13, code: 'ERR_LEDGER_LOG_ROOT_MISMATCH' });
    });

    it('a stored leaf hash that is not the hash of its body fails at that index', async () => {
      const db = await honestLog();
      await dropTriggers(db);
      await sql`update ledger_entries set leaf_hash = ${new Uint8Array(32)} where seq = 4`.execute(db);
      expect(await verifyLedger(db, VERIFY)).toMatchObject({ ok: false, index: 4, code: 'ERR_LEDGER_LOG_LEAF_MISMATCH' });
    });

    it('deleting an entry fails at its index (middle or tail)', async () => {
      const middle = await honestLog();
      await dropTriggers(middle);
      await sql`delete from ledger_entries where seq = 5`.execute(middle);
      expect(await verifyLedger(middle, VERIFY)).toMatchObject({ ok: false, index: 5, code: 'ERR_LEDGER_LOG_SEQ_MISMATCH' });

      const tail = await honestLog();
      await dropTriggers(tail);
      await sql`delete from ledger_entries where seq = 14`.execute(tail);
      expect(await verifyLedger(tail, VERIFY)).toMatchObject({ ok: false, index: 14, code: 'ERR_LEDGER_LOG_TRUNCATED', checkpointSize: 15 });
    });

    it('swapping two entries (bodies, or bodies with leaf hashes) fails at the first of them', async () => {
      for (const withLeaves of [false, true]) {
        const db = await honestLog();
        await dropTriggers(db);
        const [a, b] = [await body(db, 2), await body(db, 9)];
        await sql`update ledger_entries set body = ${b} where seq = 2`.execute(db);
        await sql`update ledger_entries set body = ${a} where seq = 9`.execute(db);
        if (withLeaves) {
          await sql`update ledger_entries set leaf_hash = ${leafHash(b)} where seq = 2`.execute(db);
          await sql`update ledger_entries set leaf_hash = ${leafHash(a)} where seq = 9`.execute(db);
        }
        expect(await verifyLedger(db, VERIFY)).toMatchObject({ ok: false, index: 2, code: 'ERR_LEDGER_LOG_SEQ_MISMATCH' });
      }
    });

    it('truncating the log inside a batch (tail entries and their checkpoints deleted) leaves unsealed entries', async () => {
      const db = await honestLog();
      await dropTriggers(db);
      await sql`delete from ledger_entries where seq >= 10`.execute(db);
      await sql`delete from ledger_checkpoints where size > 10`.execute(db);
      expect(await verifyLedger(db, VERIFY)).toMatchObject({ ok: false, index: 8, code: 'ERR_LEDGER_LOG_UNSEALED' });
    });

    it('truncating at a checkpoint boundary is caught against a checkpoint kept outside the database', async () => {
      const db = await honestLog();
      const kept = await note(db, SIZE);
      const earlier = await note(db, 7);
      await dropTriggers(db);
      await sql`delete from ledger_entries where seq >= 8`.execute(db);
      await sql`delete from ledger_checkpoints where size > 8`.execute(db);
      // Without outside knowledge the shorter log is self-consistent: that is what witnesses are for.
      expect(await verifyLedger(db, VERIFY)).toEqual({ ok: true, size: 8, checkpoints: 3 });
      expect(await verifyLedger(db, { ...VERIFY, trustedCheckpoint: kept })).toMatchObject({
        ok: false,
        index: 8,
        code: 'ERR_LEDGER_LOG_TRUNCATED',
        checkpointSize: SIZE,
      });
      expect(await verifyLedger(db, { ...VERIFY, trustedCheckpoint: earlier })).toMatchObject({ ok: true, size: 8 });
    });

    it('a log rewritten from some index on (a fork) fails against a kept checkpoint', async () => {
      const db = await honestLog();
      const kept = await note(db, 13);
      const restore = await dropTriggers(db);
      await sql`delete from ledger_entries where seq >= 8`.execute(db);
      await sql`delete from ledger_checkpoints where size > 8`.execute(db);
      // The insider puts the triggers back (a store refuses to sign over a schema without them) and, holding
      // the key, re-signs a new tail: the rewritten log is self-consistent but does not match what a witness kept.
      await restore();
      const store = await createLedgerStore({ db, origin: ORIGIN, signer });
      await store.append(Array.from({ length: 7 }, (_, i) => sample(100 + i)));
      expect((await verifyLedger(db, VERIFY)).ok).toBe(true);
      expect(await verifyLedger(db, { ...VERIFY, trustedCheckpoint: kept })).toMatchObject({
        ok: false,
        index: 8,
        code: 'ERR_LEDGER_LOG_ROOT_MISMATCH',
      });
    });

    it('a replaced checkpoint signature fails and names the checkpoint', async () => {
      const db = await honestLog();
      await dropTriggers(db);
      const original = await note(db, 7);
      const line = original.split('\n').at(-2)!;
      const blob = Buffer.from(line.split(' ').at(-1)!, 'base64');
      blob[10]! ^= 0x01; // inside the signature, after the 4-byte key id
      const tampered = original.replace(line, `${line.split(' ').slice(0, -1).join(' ')} ${blob.toString('base64')}`);
      await sql`update ledger_checkpoints set note = ${tampered} where size = 7`.execute(db);
      expect(await verifyLedger(db, VERIFY)).toMatchObject({
        ok: false,
        index: 3,
        checkpointSize: 7,
        code: 'ERR_LEDGER_NOTE_SIGNATURE_INVALID',
      });
    });

    it('a checkpoint signed by another key (same name) fails', async () => {
      const db = await honestLog();
      await dropTriggers(db);
      const other = createCheckpointSigner({ name: ORIGIN, privateKey: new Uint8Array(32).fill(9) });
      const row = await db.selectFrom('ledger_checkpoints').select(['root']).where('size', '=', 7).executeTakeFirstOrThrow();
      const forged = other.sign({ origin: ORIGIN, size: 7, root: new Uint8Array(row.root) });
      await sql`update ledger_checkpoints set note = ${forged} where size = 7`.execute(db);
      expect(await verifyLedger(db, VERIFY)).toMatchObject({ ok: false, index: 3, checkpointSize: 7, code: 'ERR_LEDGER_NOTE_KEY_ID_MISMATCH' });
    });

    it('a checkpoint of another origin, or of another size, fails', async () => {
      const db = await honestLog();
      await dropTriggers(db);
      const row = await db.selectFrom('ledger_checkpoints').select(['root']).where('size', '=', 7).executeTakeFirstOrThrow();
      const otherOrigin = signer.sign({ origin: 'audit.example/other', size: 7, root: new Uint8Array(row.root) });
      await sql`update ledger_checkpoints set note = ${otherOrigin} where size = 7`.execute(db);
      expect(await verifyLedger(db, VERIFY)).toMatchObject({ ok: false, index: 3, code: 'ERR_LEDGER_CHECKPOINT_ORIGIN_MISMATCH' });

      await sql`update ledger_checkpoints set note = ${await note(db, 8)} where size = 7`.execute(db);
      expect(await verifyLedger(db, VERIFY)).toMatchObject({ ok: false, index: 3, code: 'ERR_LEDGER_LOG_CHECKPOINT_ORDER' });
    });

    it('an entry appended without a checkpoint is unsealed', async () => {
      const db = await honestLog();
      await dropTriggers(db);
      const at = fixedClock.now().toISOString();
      const extra = encodeEntry({ v: 1, seq: SIZE, at, ...sample(99) });
      await db
        .insertInto('ledger_entries')
        .values({ seq: SIZE, body: extra, leaf_hash: leafHash(extra), kind: 'intent', request_id: 'req_99', at })
        .execute();
      expect(await verifyLedger(db, VERIFY)).toMatchObject({ ok: false, index: SIZE, code: 'ERR_LEDGER_LOG_UNSEALED' });
    });

    it('an unhashed column that differs from its body fails at that index (ERR_LEDGER_LOG_INDEX_MISMATCH): an outcome shown as another kind, an intent hidden, a request id, time or checkpoint root changed', async () => {
      const db = await temp.open();
      const store = await createLedgerStore({ db, origin: ORIGIN, signer, clock: fixedClock });
      await store.append([sample(0), sample(0, { kind: 'outcome', outcome: 'ok' }), sample(2)]);
      await store.close();
      await dropTriggers(db);
      const flips: Array<[number, 'kind' | 'request_id' | 'at', string | null]> = [
        [1, 'kind', 'event'], // recovery would have seen req_0 open and aborted a finished call
        [2, 'kind', 'event'], // recovery would never have seen this intent
        [2, 'kind', 'outcome'],
        [1, 'request_id', 'req_2'],
        [2, 'request_id', null],
        [0, 'at', '2026-01-02T03:04:05.679Z'],
      ];
      for (const [seq, column, value] of flips) {
        const row = await db.selectFrom('ledger_entries').select(['kind', 'request_id', 'at']).where('seq', '=', seq).executeTakeFirstOrThrow();
        await sql`update ledger_entries set ${sql.ref(column)} = ${value} where seq = ${seq}`.execute(db);
        expect(await verifyLedger(db, VERIFY), `${column} of ${seq}`).toMatchObject({ ok: false, index: seq, code: 'ERR_LEDGER_LOG_INDEX_MISMATCH' });
        await sql`update ledger_entries set ${sql.ref(column)} = ${row[column]} where seq = ${seq}`.execute(db);
      }
      expect(await verifyLedger(db, VERIFY)).toMatchObject({ ok: true, size: 3 });
      // A checkpoint row's root column is an unhashed copy of its note's root: checked the same way.
      await sql`update ledger_checkpoints set root = ${new Uint8Array(32)} where size = 3`.execute(db);
      expect(await verifyLedger(db, VERIFY)).toMatchObject({ ok: false, checkpointSize: 3, code: 'ERR_LEDGER_LOG_INDEX_MISMATCH' });
    });

    it('an entry dated earlier than the entry before it fails (ERR_LEDGER_LOG_TIME_ORDER), even signed with the key', async () => {
      // Written by hand and signed with the key (an old build whose clock went back, or an insider): the
      // store itself never writes it.
      const db = await temp.open();
      const ats = ['2026-05-01T12:00:00.000Z', '2026-05-01T12:00:00.000Z', '2026-05-01T11:00:00.000Z', '2026-05-01T12:30:00.000Z'];
      const tree = createMerkleTree();
      for (const [seq, at] of ats.entries()) {
        const body = encodeEntry({ v: 1, seq, at, ...sample(seq) });
        await db.insertInto('ledger_entries').values({ seq, body, leaf_hash: leafHash(body), kind: 'intent', request_id: `req_${seq}`, at }).execute();
        tree.append(leafHash(body));
        const root = tree.root();
        await db.insertInto('ledger_checkpoints').values({ size: seq + 1, root, note: signer.sign({ origin: ORIGIN, size: seq + 1, root }), at }).execute();
      }
      expect(await verifyLedger(db, VERIFY)).toMatchObject({ ok: false, index: 2, code: 'ERR_LEDGER_LOG_TIME_ORDER' });
    });

    it('verifies with the wrong key fail at the first checkpoint', async () => {
      const db = await honestLog();
      const other = createCheckpointSigner({ name: ORIGIN, privateKey: new Uint8Array(32).fill(9) });
      expect(await verifyLedger(db, { ...VERIFY, publicKey: other.publicKey })).toMatchObject({ ok: false, index: 0, checkpointSize: 3 });
    });
  });

  it('refuses misuse with TypeError', async () => {
    const db = await temp.open();
    await expect(verifyLedger(db, { ...VERIFY, publicKey: new Uint8Array(31) })).rejects.toBeInstanceOf(TypeError);
    await expect(verifyLedger(db, { ...VERIFY, origin: '' })).rejects.toBeInstanceOf(TypeError);
    await expect(verifyLedger(db, { ...VERIFY, pageSize: 0 })).rejects.toBeInstanceOf(TypeError);
  });
});
