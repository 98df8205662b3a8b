// The store's append path: entries are validated and encoded when appended (a snapshot of the caller's
// objects), sequenced into one buffer per call, hashed once, and the tree takes the interior nodes the batch
// computed. SQLite always; PostgreSQL when COVENANT_TEST_PG is set.
import { postgresTestUrl } from '@covenant/testkit/postgres';
import { postgresConformanceFactory, sqliteConformanceFactory, type ConformanceDatabase, type StoreConformanceFactory } from '@covenant/testkit/store-conformance';
import { afterEach, describe, expect, it } from 'vitest';
import { createLedgerStore, createMerkleTree, encodeEntry, verifyBundle, verifyConsistency, verifyLedger, type NewEntry } from '../src/index.ts';
import { KEY, ORIGIN, VERIFY, fixedClock, sample, signer } from './ledger-fixtures.ts';

const baseUrl = postgresTestUrl();
const factories: Array<[StoreConformanceFactory, boolean]> = [
  [sqliteConformanceFactory(), false],
  [postgresConformanceFactory(baseUrl), baseUrl === undefined],
];
const AT = fixedClock.now().toISOString();

for (const [factory, skip] of factories) {
  describe.skipIf(skip)(`ledger append path (${factory.name})`, () => {
    const opened: ConformanceDatabase[] = [];
    afterEach(async () => {
      for (const database of opened.splice(0)) await database.dispose();
    });
    const open = async (): Promise<ConformanceDatabase> => {
      const database = await factory.open();
      opened.push(database);
      return database;
    };

    it('stores the entries as they were when appended, whatever the caller does with its objects before the commit', async () => {
      const { db } = await open();
      const store = await createLedgerStore({ db, origin: ORIGIN, signer, clock: fixedClock });
      const entry = structuredClone(sample(0, { data: { list: [1] } })) as NewEntry & { actor: { subject: string }; data: { list: number[] } };
      const original = structuredClone(entry);
      const appended = store.append([entry]);
      entry.actor.subject = 'mallory';
      entry.data.list.push(2);
      const unit = store.transact(async (tx) => {
        const inner = structuredClone(sample(1)) as NewEntry & { requestId: string };
        const seqs = tx.append([inner]);
        inner.requestId = 'req_changed';
        return seqs;
      });
      expect(await appended).toEqual([0]);
      expect(await unit).toEqual([1]);
      expect((await store.readEntry(0)).bytes).toEqual(encodeEntry({ v: 1, seq: 0, at: AT, ...original }));
      expect((await store.readEntry(1)).entry.requestId).toBe('req_1');
      expect(await verifyLedger(db, VERIFY)).toEqual({ ok: true, size: 2, checkpoints: 1 });
    });

    it('refuses entries carrying members the store assigns (v, seq, at), and holes, with TypeError, without failing the batch', async () => {
      const { db } = await open();
      const store = await createLedgerStore({ db, origin: ORIGIN, signer });
      const results = await Promise.allSettled([
        store.append([sample(0)]),
        store.append([{ ...sample(1), seq: 7 } as NewEntry]),
        store.append([{ ...sample(2), at: AT } as NewEntry]),
        store.append([{ ...sample(3), v: 1 } as NewEntry]),
        // eslint-disable-next-line no-sparse-arrays
        store.append([sample(4), , sample(5)] as NewEntry[]),
        store.transact(async (tx) => tx.append([{ ...sample(6), seq: 0 } as NewEntry])),
      ]);
      expect(results[0]).toEqual({ status: 'fulfilled', value: [0] });
      for (const result of results.slice(1)) {
        expect(result.status).toBe('rejected');
        expect((result as PromiseRejectedResult).reason).toBeInstanceOf(TypeError);
      }
      expect(String((results[1] as PromiseRejectedResult).reason)).toContain('append: entries[0]: entry.seq is not a member');
      expect(String((results[4] as PromiseRejectedResult).reason)).toContain('append: entries[1]: entry must be an object');
      expect(await store.size()).toBe(1);
      expect(await verifyLedger(db, VERIFY)).toEqual({ ok: true, size: 1, checkpoints: 1 });
    });

    it('an entry that fits at seq 0 but not at its seq fails its batch (TypeError), stores nothing of it, and the store goes on', async () => {
      const { db } = await open();
      const store = await createLedgerStore({ db, origin: ORIGIN, signer, clock: fixedClock });
      await store.append(Array.from({ length: 10 }, (_, i) => sample(i)));
      const overhead = encodeEntry({ v: 1, seq: 0, at: AT, ...sample(99, { data: '' }) }).length;
      const edge = sample(99, { data: 'x'.repeat(65_536 - overhead) });
      const results = await Promise.allSettled([store.append([sample(10)]), store.append([edge])]);
      expect(results.map((result) => result.status)).toEqual(['rejected', 'rejected']);
      expect((results[1] as PromiseRejectedResult).reason).toBeInstanceOf(TypeError);
      expect(String((results[1] as PromiseRejectedResult).reason)).toMatch(/exceeds 65536 bytes/);
      expect(await store.size()).toBe(10);
      expect(await store.append([sample(10)])).toEqual([10]);
      expect(await verifyLedger(db, VERIFY)).toEqual({ ok: true, size: 11, checkpoints: 2 });
    });

    it('after batches whose units roll entries back, the tree, checkpoints and proofs are those of the stored leaves', async () => {
      const { db, another } = await open();
      const store = await createLedgerStore({ db, origin: ORIGIN, signer });
      const checkpoints = [];
      let n = 0;
      for (const size of [1, 2, 5, 8, 13]) {
        // One batch (size + 4 entries stored): an append, a unit whose savepoint rolls back after appending, a
        // failing unit, another append.
        await Promise.allSettled([
          store.append(Array.from({ length: size }, () => sample(n++))),
          store.transact(async (tx) => {
            tx.append([sample(n++)]);
            await tx
              .savepoint(async () => {
                tx.append(Array.from({ length: size }, () => sample(n++)));
                throw new Error('undo');
              })
              .catch(() => undefined);
            tx.append([sample(n++), sample(n++)]);
          }),
          store.transact(async (tx) => {
            tx.append(Array.from({ length: size + 1 }, () => sample(n++)));
            throw new Error('unit fails');
          }),
          store.append([sample(n++)]),
        ]);
        checkpoints.push((await store.latestCheckpoint())!.checkpoint);
      }
      const rows = await db.selectFrom('ledger_entries').select(['seq', 'leaf_hash']).orderBy('seq').execute();
      const tree = createMerkleTree();
      for (const row of rows) tree.append(row.leaf_hash);
      expect(checkpoints.map((checkpoint) => checkpoint.size)).toEqual([5, 11, 20, 32, 49]);
      for (const checkpoint of checkpoints) expect(checkpoint.root).toEqual(tree.root(checkpoint.size));
      for (const seq of [0, 4, 5, 19, 20, 31, 48]) {
        expect(verifyBundle(await store.inclusionBundle(seq), KEY, (await store.readEntry(seq)).bytes)).toMatchObject({ ok: true, leafIndex: seq });
      }
      for (const [i, a] of checkpoints.entries()) {
        for (const b of checkpoints.slice(i + 1)) {
          const proof = await store.consistencyProof(a.size, b.size);
          expect(verifyConsistency({ size1: a.size, size2: b.size, root1: a.root, root2: b.root, proof }).ok).toBe(true);
        }
      }
      // Another store, on another connection, loads the same log and continues it.
      const other = await createLedgerStore({ db: await another(), origin: ORIGIN, signer });
      expect((await other.latestCheckpoint())?.checkpoint).toEqual(checkpoints.at(-1));
      expect(await other.append([sample(n++)])).toEqual([49]);
      expect(await verifyLedger(db, VERIFY)).toEqual({ ok: true, size: 50, checkpoints: 6 });
    });
  });
}
