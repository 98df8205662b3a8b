// The ledger store and verifyLedger on PostgreSQL. Runs when COVENANT_TEST_PG is set (see
// @covenant/testkit/postgres); each test works in a schema of its own, dropped afterwards.
import { createDatabase, migrateToLatest } from '@covenant/db';
import { postgresTestDatabase, postgresTestUrl, type PostgresTestDatabase } from '@covenant/testkit/postgres';
import { sql, type Kysely } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { LogError, createLedgerStore, leafHash, verifyBundle, verifyCheckpoint, verifyConsistency, verifyLedger, type LedgerTables } from '../src/index.ts';
import { KEY, ORIGIN, VERIFY, fixedClock, sample, signer } from './ledger-fixtures.ts';

const baseUrl = postgresTestUrl();

const open: Array<Kysely<any>> = [];
const schemas: PostgresTestDatabase[] = [];
afterEach(async () => {
  for (const db of open.splice(0)) await db.destroy();
  for (const schema of schemas.splice(0)) await schema.drop();
});

/** A migrated schema of its own; returns its URL (for more pools) and a first pool on it. */
async function scratch(): Promise<{ url: string; db: Kysely<LedgerTables> }> {
  const database = await postgresTestDatabase(baseUrl);
  schemas.push(database);
  const db = connect(database.url);
  await migrateToLatest(db);
  return { url: database.url, db };
}

function connect(url: string): Kysely<LedgerTables> {
  const db = createDatabase<LedgerTables>({ url });
  open.push(db);
  return db;
}

const seqs = async (db: Kysely<LedgerTables>): Promise<number[]> =>
  (await db.selectFrom('ledger_entries').select('seq').orderBy('seq').execute()).map((row) => row.seq);

describe.skipIf(baseUrl === undefined)('ledger store on PostgreSQL', () => {
  it('appends, seals with a signed checkpoint, stores bytea as Uint8Array, and proves inclusion and consistency', async () => {
    const { db } = await scratch();
    const store = await createLedgerStore({ db, origin: ORIGIN, signer, clock: fixedClock });
    expect(await store.latestCheckpoint()).toBeNull();
    expect(await store.append([sample(0), sample(1), sample(2)])).toEqual([0, 1, 2]);
    const first = (await store.latestCheckpoint())!;
    expect(first.checkpoint.size).toBe(3);
    expect(await store.append([sample(3, { kind: 'outcome', outcome: 'ok' })])).toEqual([3]);
    expect(await store.size()).toBe(4);

    const row = await db.selectFrom('ledger_entries').select(['body', 'leaf_hash']).where('seq', '=', 1).executeTakeFirstOrThrow();
    expect(Object.getPrototypeOf(row.body)).toBe(Uint8Array.prototype);
    expect(row.leaf_hash).toEqual(leafHash(row.body));

    for (let seq = 0; seq < 4; seq += 1) {
      const bundle = JSON.parse(JSON.stringify(await store.inclusionBundle(seq)));
      const { bytes, entry } = await store.readEntry(seq);
      expect(entry.seq).toBe(seq);
      expect(verifyBundle(bundle, KEY, bytes)).toMatchObject({ ok: true, leafIndex: seq });
      expect(verifyBundle(bundle, KEY, (await store.readEntry((seq + 1) % 4)).bytes).ok).toBe(false);
    }
    const latest = (await store.latestCheckpoint())!;
    expect(verifyCheckpoint(latest.note, KEY).ok).toBe(true);
    const proof = await store.consistencyProof(3, 4);
    expect(verifyConsistency({ size1: 3, size2: 4, root1: first.checkpoint.root, root2: latest.checkpoint.root, proof }).ok).toBe(true);
    expect(await verifyLedger(db, VERIFY)).toEqual({ ok: true, size: 4, checkpoints: 2 });
    await store.close();
  });

  it('group-commits appends of the same tick into one transaction and one checkpoint', async () => {
    const { db } = await scratch();
    const store = await createLedgerStore({ db, origin: ORIGIN, signer, clock: fixedClock });
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => store.append([sample(i)])));
    expect(results.flat()).toEqual(Array.from({ length: 20 }, (_, i) => i));
    const checkpoints = await db.selectFrom('ledger_checkpoints').select('size').execute();
    expect(checkpoints).toEqual([{ size: 20 }]);
    expect(await verifyLedger(db, VERIFY)).toEqual({ ok: true, size: 20, checkpoints: 1 });
  });

  it('runs units of work in savepoints: a failing unit (even after a failed statement) is rolled back, the batch commits the rest', async () => {
    const { db } = await scratch();
    await sql`create table notes (id integer primary key)`.execute(db);
    const store = await createLedgerStore({ db, origin: ORIGIN, signer, clock: fixedClock });
    const boom = new Error('handler failed');
    const [kept, failed, broken, nested] = await Promise.allSettled([
      store.transact(async (tx) => {
        await sql`insert into notes (id) values (1)`.execute(tx.db);
        return tx.append([sample(0)]);
      }),
      store.transact(async (tx) => {
        await sql`insert into notes (id) values (2)`.execute(tx.db);
        tx.append([sample(1)]);
        throw boom;
      }),
      store.transact(async (tx) => {
        tx.append([sample(2)]);
        // A failing statement aborts a PostgreSQL transaction: the unit's savepoint must recover it.
        await sql`insert into notes (id) values (1)`.execute(tx.db);
      }),
      store.transact(async (tx) => {
        const inner = await tx.savepoint(async () => {
          await sql`insert into notes (id) values (3)`.execute(tx.db);
          return tx.append([sample(3)]);
        });
        await expect(
          tx.savepoint(async () => {
            tx.append([sample(4)]);
            await sql`insert into notes (id) values (3)`.execute(tx.db);
          }),
        ).rejects.toThrow(/duplicate key/);
        return inner;
      }),
    ]);
    expect(kept).toEqual({ status: 'fulfilled', value: [0] });
    expect(failed).toEqual({ status: 'rejected', reason: boom });
    expect(broken).toMatchObject({ status: 'rejected', reason: { message: expect.stringMatching(/duplicate key/) } });
    expect(nested).toEqual({ status: 'fulfilled', value: [1] });
    expect((await db.selectFrom('notes' as never).select('id' as never).orderBy('id' as never).execute()).map((r) => (r as { id: number }).id)).toEqual([1, 3]);
    expect(await seqs(db)).toEqual([0, 1]);
    const entries = await Promise.all([0, 1].map(async (seq) => (await store.readEntry(seq)).entry.requestId));
    expect(entries).toEqual(['req_0', 'req_3']);
    expect(await verifyLedger(db, VERIFY)).toEqual({ ok: true, size: 2, checkpoints: 1 });
  });

  it('lists open intents (intents without an outcome), oldest first', async () => {
    const { db } = await scratch();
    const store = await createLedgerStore({ db, origin: ORIGIN, signer, clock: fixedClock });
    await store.append([sample(0), sample(1), sample(2)]);
    await store.append([sample(1, { kind: 'outcome', outcome: 'ok' })]);
    expect((await store.openIntents()).map((entry) => [entry.seq, entry.requestId])).toEqual([
      [0, 'req_0'],
      [2, 'req_2'],
    ]);
  });

  it('two stores on two pools appending at once stay gap-free, each sees the other, and the log verifies', async () => {
    const { url, db } = await scratch();
    const other = connect(url);
    const a = await createLedgerStore({ db, origin: ORIGIN, signer, clock: fixedClock });
    const b = await createLedgerStore({ db: other, origin: ORIGIN, signer, clock: fixedClock });
    const rounds = 15;
    const written: number[] = [];
    for (let i = 0; i < rounds; i += 1) {
      // Both stores flush in the same tick, so their batch transactions contend for the writer lock.
      const [x, y] = await Promise.all([a.append([sample(i), sample(100 + i)]), b.append([sample(200 + i)])]);
      written.push(...x, ...y);
    }
    const all = written.sort((x, y) => x - y);
    expect(all).toEqual(Array.from({ length: rounds * 3 }, (_, i) => i));
    expect(await seqs(db)).toEqual(all);
    expect(await a.size()).toBe(rounds * 3);
    expect(await b.size()).toBe(rounds * 3);
    expect((await a.latestCheckpoint())?.note).toBe((await b.latestCheckpoint())?.note);
    const result = await verifyLedger(other, VERIFY);
    expect(result).toMatchObject({ ok: true, size: rounds * 3 });
    // Every bundle from either store verifies against the shared log.
    const bundle = JSON.parse(JSON.stringify(await b.inclusionBundle(0)));
    expect(verifyBundle(bundle, KEY, (await a.readEntry(0)).bytes)).toMatchObject({ ok: true, leafIndex: 0 });
  });

  it('verifyLedger finds a tampered entry (the attacker disabled the triggers) and a reopened store refuses it', async () => {
    const { db } = await scratch();
    const store = await createLedgerStore({ db, origin: ORIGIN, signer, clock: fixedClock });
    await store.append([sample(0), sample(1), sample(2)]);
    await store.append([sample(3)]);
    expect(await verifyLedger(db, VERIFY)).toMatchObject({ ok: true, size: 4 });
    // The triggers refuse the edit until they are disabled.
    await expect(sql`update ledger_entries set kind = 'event' where seq = 1`.execute(db)).rejects.toThrow(/append-only/);
    await sql`alter table ledger_entries disable trigger user`.execute(db);
    const { bytes } = await store.readEntry(2);
    const tampered = bytes.slice();
    tampered[tampered.length - 2]! ^= 0x01;
    await sql`update ledger_entries set body = ${tampered} where seq = 2`.execute(db);
    expect(await verifyLedger(db, VERIFY)).toMatchObject({ ok: false, index: 2 });
    // Rewriting the leaf hash too: the stored hashes no longer have the signed root.
    await sql`update ledger_entries set leaf_hash = ${leafHash(tampered)} where seq = 2`.execute(db);
    expect(await verifyLedger(db, VERIFY)).toMatchObject({ ok: false });
    await expect(createLedgerStore({ db, origin: ORIGIN, signer })).rejects.toBeInstanceOf(LogError);
  });

  it('the append-only triggers stop an accidental rewrite through the store\'s own database', async () => {
    const { db } = await scratch();
    const store = await createLedgerStore({ db, origin: ORIGIN, signer, clock: fixedClock });
    await store.append([sample(0)]);
    await expect(db.deleteFrom('ledger_entries').execute()).rejects.toThrow('ledger_entries is append-only');
    await expect(db.insertInto('ledger_entries').values({ seq: 5, body: new Uint8Array(1), leaf_hash: new Uint8Array(32), kind: 'intent', request_id: null, at: 'x' }).execute()).rejects.toThrow(/gap-free/);
    expect(await store.append([sample(1)])).toEqual([1]);
    expect(await verifyLedger(db, VERIFY)).toEqual({ ok: true, size: 2, checkpoints: 2 });
  });
});
