import { chmodSync, chownSync, copyFileSync, lchownSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ADVISORY_LOCKS, SchemaAlteredError, dialectOf } from '@covenant/db';
import { flakySigner } from '../flaky-signer.ts';
import { disableAppendOnly } from '../ledger-tamper.ts';
import {
  LogError,
  createCheckpointSigner,
  createLedgerStore,
  createMerkleTree,
  encodeEntry,
  leafHash,
  verifyBundle,
  verifyCheckpoint,
  verifyConsistency,
  verifyLedger,
  type LedgerTables,
  type LedgerTransaction,
  type NewEntry,
  type SignedCheckpoint,
} from '@covenant/ledger';
import { CompiledQuery, sql, type Kysely } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import type { StoreConformanceFactory } from './factory.ts';
import { databasesPerTest } from './per-test.ts';
import { grantToService } from './service-grants.ts';

const ORIGIN = 'conformance.example/ledger';
/** Fixed test keys (never real ones). */
const signer = createCheckpointSigner({ name: ORIGIN, privateKey: new Uint8Array(32).fill(7) });
const stranger = createCheckpointSigner({ name: ORIGIN, privateKey: new Uint8Array(32).fill(9) });
const KEY = { name: ORIGIN, publicKey: signer.publicKey, origin: ORIGIN };
const VERIFY = { origin: ORIGIN, keyName: ORIGIN, publicKey: signer.publicKey };
const AT = '2026-01-02T03:04:05.678Z';
const POSIX = process.platform !== 'win32';
/** chown to another user needs root: the tests of owners other than the service's run as root only (CI does). */
const ROOT = POSIX && process.getuid?.() === 0;
const fixedClock = { now: () => new Date(AT) };

/** The ledger's tables plus a table standing for a handler's own writes in a unit of work. */
interface Tables extends LedgerTables {
  notes: { id: number };
}

function sample(n: number, overrides: Partial<NewEntry> = {}): NewEntry {
  return {
    kind: 'intent',
    action: 'orders.place',
    actor: { subject: 'user_1', session: 'sess_1' },
    tenant: { org: 'org_a', workspace: null },
    resource: { type: 'order', id: `ord_${n}` },
    requestId: `req_${n}`,
    outcome: null,
    inputDigest: `sha256:${'ab'.repeat(32)}`,
    data: null,
    ...overrides,
  };
}

const tables = (db: Kysely<any>): Kysely<Tables> => db as Kysely<Tables>;

/** The owner creates it (a serving role may not) and lets the serving role use it, as an application's migration would. */
async function createNotes(owner: Kysely<any>): Promise<void> {
  await owner.schema.createTable('notes').addColumn('id', 'integer', (c) => c.primaryKey()).execute();
  await grantToService(owner, 'notes');
}

async function insertNote(db: Kysely<any>, id: number): Promise<void> {
  await tables(db).insertInto('notes').values({ id }).execute();
}

async function noteIds(db: Kysely<any>): Promise<number[]> {
  return (await tables(db).selectFrom('notes').select('id').orderBy('id').execute()).map((row) => row.id);
}

async function storedSeqs(db: Kysely<any>): Promise<number[]> {
  return (await tables(db).selectFrom('ledger_entries').select('seq').orderBy('seq').execute()).map((row) => row.seq);
}

async function storedRequestIds(db: Kysely<any>): Promise<Array<string | null>> {
  return (await tables(db).selectFrom('ledger_entries').select('request_id').orderBy('seq').execute()).map((row) => row.request_id);
}

async function checkpointSizes(db: Kysely<any>): Promise<number[]> {
  return (await tables(db).selectFrom('ledger_checkpoints').select('size').orderBy('size').execute()).map((row) => row.size);
}


/**
 * Takes one append-only trigger away: dropped on SQLite (which cannot disable one), disabled on PostgreSQL.
 * Returns how to put it back as it was.
 */
async function removeTrigger(conn: Kysely<any>, table: string, trigger: string): Promise<() => Promise<void>> {
  if (dialectOf(conn) === 'postgres') {
    await sql`alter table ${sql.table(table)} disable trigger ${sql.id(trigger)}`.execute(conn);
    return async () => void (await sql`alter table ${sql.table(table)} enable trigger ${sql.id(trigger)}`.execute(conn));
  }
  const { rows } = await sql<{ sql: string }>`select sql from sqlite_master where type = 'trigger' and name = ${trigger}`.execute(conn);
  await sql`drop trigger ${sql.id(trigger)}`.execute(conn);
  return async () => void (await sql.raw(rows[0]!.sql).execute(conn));
}

/**
 * A row exactly as a writer of the log stores it — canonical body, its leaf hash, matching columns — inserted
 * by someone else (another connection, the append-only triggers intact: they only check `seq`).
 */
async function insertForeignRow(db: Kysely<any>, seq: number, entry: NewEntry): Promise<Uint8Array> {
  const body = encodeEntry({ v: 1, seq, at: AT, ...entry });
  await tables(db).insertInto('ledger_entries').values({ seq, body, leaf_hash: leafHash(body), kind: entry.kind, request_id: entry.requestId, at: AT }).execute();
  return body;
}

/**
 * What a database writer without the log's key does to get a row provable: inserts the entry at `seq` (the
 * next one) and a checkpoint over the log with it, signed by `stranger`. Returns that checkpoint's note.
 */
async function insertForeignCheckpointedRow(db: Kysely<any>, seq: number, entry: NewEntry): Promise<string> {
  const body = await insertForeignRow(db, seq, entry);
  const tree = createMerkleTree();
  for (const row of await tables(db).selectFrom('ledger_entries').select('leaf_hash').where('seq', '<', seq).orderBy('seq').execute()) tree.append(row.leaf_hash);
  tree.append(leafHash(body));
  const root = tree.root();
  const note = stranger.sign({ origin: ORIGIN, size: seq + 1, root });
  await tables(db).insertInto('ledger_checkpoints').values({ size: seq + 1, root, note, at: AT }).execute();
  return note;
}

/** A folder for state files, removed after the test. */
function stateFolder(): { readonly path: (name: string) => string; readonly dispose: () => void } {
  // Its real path (macOS's tmpdir is under a link): the refusals name the real folders the walk reaches.
  const dir = mkdtempSync(join(realpathSync(tmpdir()), 'covenant-ledger-state-'));
  return { path: (name) => join(dir, name), dispose: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A clock a test sets: `now()` is whatever it was last set to. */
function settableClock(at: string): { now(): Date; set(at: string): void } {
  let current = new Date(at);
  return { now: () => new Date(current), set: (next) => void (current = new Date(next)) };
}

/**
 * The contract every ledger backend honours (@covenant/ledger's `createLedgerStore` and `verifyLedger` on
 * the database `factory` opens). Each test opens a fresh migrated database and disposes it afterwards.
 */
export function runLedgerConformance(factory: StoreConformanceFactory): void {
  if (POSIX && !ROOT) console.warn('ledger conformance: the state-file tests of other owners are skipped: they chown, which needs root (.ci/run runs as root)');
  describe(`ledger store conformance (${factory.name})`, () => {
    const open = databasesPerTest(factory);

    describe('append and checkpoints', () => {
      it('append returns gap-free seqs in order; each batch is sealed by a checkpoint over the whole log that verifies with the public key', async () => {
        const { db } = await open();
        const store = await createLedgerStore({ db, origin: ORIGIN, signer, clock: fixedClock });
        expect(await store.latestCheckpoint()).toBeNull();
        expect(await store.size()).toBe(0);
        const checkpoints: SignedCheckpoint[] = [];
        expect(await store.append([sample(0), sample(1), sample(2)])).toEqual([0, 1, 2]);
        checkpoints.push((await store.latestCheckpoint())!);
        expect(await store.append([sample(3, { kind: 'outcome', outcome: 'ok' })])).toEqual([3]);
        checkpoints.push((await store.latestCheckpoint())!);
        expect(await store.append([sample(4), sample(5)])).toEqual([4, 5]);
        checkpoints.push((await store.latestCheckpoint())!);
        expect(await store.size()).toBe(6);
        expect(checkpoints.map((c) => c.checkpoint.size)).toEqual([3, 4, 6]);
        expect(await checkpointSizes(db)).toEqual([3, 4, 6]);

        const rows = await tables(db).selectFrom('ledger_entries').select(['seq', 'body', 'leaf_hash']).orderBy('seq').execute();
        expect(rows.map((row) => row.seq)).toEqual([0, 1, 2, 3, 4, 5]);
        for (const row of rows) {
          // Bytes come back as Uint8Arrays (a Buffer from better-sqlite3), and the stored leaf is the hash of the stored body.
          expect(row.body).toBeInstanceOf(Uint8Array);
          expect(new Uint8Array(row.leaf_hash)).toEqual(leafHash(row.body));
          const { bytes, entry } = await store.readEntry(row.seq);
          expect(Object.getPrototypeOf(bytes)).toBe(Uint8Array.prototype);
          expect(bytes).toEqual(new Uint8Array(row.body));
          expect(entry).toMatchObject({ seq: row.seq, at: AT, requestId: `req_${row.seq}` });
        }
        for (const { checkpoint, note } of checkpoints) {
          // Each checkpoint signs the root of the log's whole prefix at its size.
          const tree = createMerkleTree();
          for (const row of rows.slice(0, checkpoint.size)) tree.append(row.leaf_hash);
          expect(checkpoint.root).toEqual(tree.root());
          expect(verifyCheckpoint(note, KEY)).toMatchObject({ ok: true, checkpoint: { origin: ORIGIN, size: checkpoint.size } });
          expect(verifyCheckpoint(note, { ...KEY, publicKey: stranger.publicKey }).ok).toBe(false);
        }
        expect(await verifyLedger(db, VERIFY)).toEqual({ ok: true, size: 6, checkpoints: 3 });
        await store.close();
      });

      it('group commit: appends of one tick commit as one batch with one checkpoint; each caller gets its own seqs, in call order', async () => {
        const { db } = await open();
        const store = await createLedgerStore({ db, origin: ORIGIN, signer, clock: fixedClock });
        const results = await Promise.all(Array.from({ length: 40 }, (_, i) => store.append([sample(i), sample(100 + i)])));
        results.forEach((seqs, i) => expect(seqs).toEqual([2 * i, 2 * i + 1]));
        for (const [i, seqs] of results.entries()) {
          expect((await store.readEntry(seqs[0]!)).entry.requestId).toBe(`req_${i}`);
          expect((await store.readEntry(seqs[1]!)).entry.requestId).toBe(`req_${100 + i}`);
        }
        expect(await checkpointSizes(db)).toEqual([80]);
        expect(await verifyLedger(db, VERIFY)).toEqual({ ok: true, size: 80, checkpoints: 1 });
      });

      it('appends queued while a batch is written commit after it, in later batches, and the log stays sealed', async () => {
        const { db } = await open();
        const store = await createLedgerStore({ db, origin: ORIGIN, signer });
        const first = store.append([sample(0)]);
        await new Promise<void>((resolve) => setImmediate(resolve));
        const later = await Promise.all(Array.from({ length: 10 }, (_, i) => store.append([sample(i + 1)])));
        expect(await first).toEqual([0]);
        expect(later.flat()).toEqual(Array.from({ length: 10 }, (_, i) => i + 1));
        const sizes = await checkpointSizes(db);
        expect(sizes[0]).toBe(1);
        expect(sizes.at(-1)).toBe(11);
        // The ten queued appends did not each take a transaction of their own.
        expect(sizes.length).toBeLessThanOrEqual(3);
        expect(await verifyLedger(db, VERIFY)).toEqual({ ok: true, size: 11, checkpoints: sizes.length });
      });

      it('a failed batch rejects every caller of it, stores nothing of it, and the store keeps working', async () => {
        const { db } = await open();
        const flaky = flakySigner(signer);
        const store = await createLedgerStore({ db, origin: ORIGIN, signer: flaky });
        expect(await store.append([sample(0)])).toEqual([0]);
        flaky.failNext();
        const batch = await Promise.allSettled([store.append([sample(1)]), store.append([sample(2), sample(3)])]);
        expect(batch).toEqual([
          { status: 'rejected', reason: new Error('HSM unavailable') },
          { status: 'rejected', reason: new Error('HSM unavailable') },
        ]);
        expect(await store.size()).toBe(1);
        expect(await storedSeqs(db)).toEqual([0]);
        expect(await checkpointSizes(db)).toEqual([1]);
        expect(await store.append([sample(4)])).toEqual([1]);
        expect((await store.readEntry(1)).entry.requestId).toBe('req_4');
        expect(verifyBundle(await store.inclusionBundle(1), KEY, (await store.readEntry(1)).bytes).ok).toBe(true);
        expect(await verifyLedger(db, VERIFY)).toEqual({ ok: true, size: 2, checkpoints: 2 });
      });

      it('an invalid entry rejects its caller with TypeError without failing the batch it would have joined', async () => {
        const { db } = await open();
        const store = await createLedgerStore({ db, origin: ORIGIN, signer });
        const [good, bad] = await Promise.allSettled([store.append([sample(0)]), store.append([sample(1, { inputDigest: 'hunter2' })])]);
        expect(good).toEqual({ status: 'fulfilled', value: [0] });
        expect(bad.status === 'rejected' && bad.reason).toBeInstanceOf(TypeError);
        expect(String(bad.status === 'rejected' && bad.reason)).not.toContain('hunter2');
        expect(await storedSeqs(db)).toEqual([0]);
      });

      it('refuses out-of-range reads and proofs (RangeError) and misuse (TypeError)', async () => {
        const { db } = await open();
        const store = await createLedgerStore({ db, origin: ORIGIN, signer });
        await store.append([sample(0), sample(1)]);
        await expect(store.inclusionBundle(2)).rejects.toBeInstanceOf(RangeError);
        await expect(store.readEntry(2)).rejects.toBeInstanceOf(RangeError);
        await expect(store.consistencyProof(0, 2)).rejects.toBeInstanceOf(RangeError);
        await expect(store.consistencyProof(1, 3)).rejects.toBeInstanceOf(RangeError);
        await expect(store.inclusionBundle(-1)).rejects.toBeInstanceOf(TypeError);
        await expect(store.append('x' as never)).rejects.toBeInstanceOf(TypeError);
        await expect(createLedgerStore({ db, origin: '', signer })).rejects.toBeInstanceOf(TypeError);
      });
    });

    describe('proofs', () => {
      it('inclusion bundles verify offline (JSON round trip) for every entry; other bytes and another key fail', async () => {
        const { db } = await open();
        const store = await createLedgerStore({ db, origin: ORIGIN, signer, clock: fixedClock });
        await store.append([sample(0), sample(1), sample(2)]);
        await store.append([sample(3), sample(4)]);
        for (let seq = 0; seq < 5; seq += 1) {
          const bundle = JSON.parse(JSON.stringify(await store.inclusionBundle(seq)));
          const { bytes } = await store.readEntry(seq);
          expect(verifyBundle(bundle, KEY, bytes)).toMatchObject({ ok: true, leafIndex: seq });
          expect(verifyBundle(bundle, KEY, (await store.readEntry((seq + 1) % 5)).bytes).ok).toBe(false);
          expect(verifyBundle(bundle, { ...KEY, publicKey: stranger.publicKey }, bytes).ok).toBe(false);
        }
      });

      it('consistency proofs between every pair of checkpoints verify against their signed roots; a wrong root fails', async () => {
        const { db } = await open();
        const store = await createLedgerStore({ db, origin: ORIGIN, signer, clock: fixedClock });
        const checkpoints: SignedCheckpoint[] = [];
        for (const batch of [[0], [1, 2], [3], [4, 5, 6, 7], [8, 9, 10]]) {
          await store.append(batch.map((n) => sample(n)));
          checkpoints.push((await store.latestCheckpoint())!);
        }
        expect(checkpoints.map((c) => c.checkpoint.size)).toEqual([1, 3, 4, 8, 11]);
        for (const [i, a] of checkpoints.entries()) {
          for (const b of checkpoints.slice(i)) {
            const size1 = a.checkpoint.size;
            const size2 = b.checkpoint.size;
            const proof = await store.consistencyProof(size1, size2);
            expect(verifyConsistency({ size1, size2, root1: a.checkpoint.root, root2: b.checkpoint.root, proof }).ok).toBe(true);
            if (size1 < size2) {
              expect(verifyConsistency({ size1, size2, root1: b.checkpoint.root, root2: b.checkpoint.root, proof }).ok).toBe(false);
            }
          }
        }
      });
    });

    describe('units of work (transact)', () => {
      it("commits a unit's writes and entries together and resolves only after the commit", async () => {
        const { db, owner, another } = await open();
        await createNotes(owner);
        const other = await another();
        const store = await createLedgerStore({ db, origin: ORIGIN, signer, clock: fixedClock });
        let unseen: { notes: number[]; seqs: number[] } | undefined;
        const value = await store.transact(async (tx) => {
          await insertNote(tx.db, 1);
          const seqs = tx.append([sample(0)]);
          // The unit reads its own write; another connection does not see it before the commit.
          expect(await noteIds(tx.db)).toEqual([1]);
          unseen = { notes: await noteIds(other), seqs: await storedSeqs(other) };
          return seqs;
        });
        expect(value).toEqual([0]);
        expect(unseen).toEqual({ notes: [], seqs: [] });
        expect(await noteIds(other)).toEqual([1]);
        expect(await storedRequestIds(other)).toEqual(['req_0']);
        expect(await checkpointSizes(other)).toEqual([1]);
        // A unit that appends nothing commits its writes without a new checkpoint.
        expect(await store.transact(async (tx) => (await insertNote(tx.db, 2), 'done'))).toBe('done');
        expect(await noteIds(other)).toEqual([1, 2]);
        expect(await checkpointSizes(other)).toEqual([1]);
        expect(await verifyLedger(other, VERIFY)).toEqual({ ok: true, size: 1, checkpoints: 1 });
      });

      it("a unit cannot end the batch's transaction — kysely's transaction(), a raw COMMIT or ROLLBACK in any fragment, script or comment, through a derived handle, another connection() or the executor too — so an earlier unit's write never commits without its entries; savepoints still nest", async () => {
        const { db, owner, another } = await open();
        await createNotes(owner);
        const other = await another();
        const store = await createLedgerStore({ db, origin: ORIGIN, signer, clock: fixedClock });
        const attempts: Array<[string, (handle: Kysely<any>) => Promise<unknown>]> = [
          ['transaction()', (handle) => handle.transaction().execute(async () => 1)],
          ['startTransaction()', (handle) => handle.startTransaction().execute()],
          ['a derived handle', (handle) => handle.withoutPlugins().withSchema('public').transaction().execute(async () => 1)],
          ['destroy()', (handle) => handle.destroy()],
          ['sql commit', (handle) => sql`commit`.execute(handle)],
          ['sql.raw with comments', (handle) => sql.raw('/* done */ -- really\n ( END').execute(handle)],
          ['rollback', (handle) => sql`ROLLBACK WORK`.execute(handle)],
          ['rollback and chain', (handle) => sql.raw('rollback /* not to */ and chain').execute(handle)],
          ['executeQuery', (handle) => handle.executeQuery(CompiledQuery.raw('commit'))],
          // Found from outside: fragments, dropped plugins, other readings of comments, scripts.
          ['a nested fragment', (handle) => sql`${sql.raw('com' + 'mit')}`.execute(handle)],
          ['sql.join', (handle) => sql.join([sql.raw('rollback')], sql``).execute(handle)],
          ['withoutPlugins()', (handle) => handle.withoutPlugins().executeQuery(CompiledQuery.raw('commit'))],
          ['connection()', (handle) => handle.connection().execute((conn) => sql`commit`.execute(conn))],
          ['the executor', (handle) => handle.getExecutor().provideConnection((conn) => conn.executeQuery(CompiledQuery.raw('commit')))],
          ['a stream', (handle) => handle.getExecutor().stream(CompiledQuery.raw('commit'), 1).next()],
          ['an empty statement first', (handle) => sql.raw(';commit').execute(handle)],
          ['a comment ending at CR', (handle) => sql.raw('-- note\rcommit').execute(handle)],
          ['a nested block comment', (handle) => sql.raw('/* a /* b */ c */ commit').execute(handle)],
          ['a script', (handle) => sql.raw('select 1; insert into notes (id) values (9); commit').execute(handle)],
          ['a script after a string', (handle) => sql.raw("select 'a\\''; commit; --'").execute(handle)],
          // A savepoint the handle cannot name for sure is refused: it could be the store's.
          ['a savepoint name it cannot read', (handle) => sql.raw("release savepoint 'covenant_unit_0'").execute(handle)],
          ['a savepoint statement as a stream', (handle) => handle.getExecutor().stream(CompiledQuery.raw('release savepoint covenant_unit_0'), 1).next()],
        ];
        const refused: string[] = [];
        let seenMeanwhile: number[] | undefined;
        const [first, second] = await Promise.all([
          store.transact(async (tx) => {
            await insertNote(tx.db, 1);
            return tx.append([sample(0)]);
          }),
          store.transact(async (tx) => {
            for (const [name, attempt] of attempts) {
              // (The handle's methods refuse synchronously, as kysely's own Transaction does.)
              await Promise.resolve(tx.db).then(attempt).then(
                () => undefined,
                (error: unknown) => {
                  if ((error as { code?: unknown }).code === 'ERR_LEDGER_LOG_UNIT_TRANSACTION') refused.push(name);
                },
              );
            }
            // Nesting stays: a savepoint rolled back (raw, and through tx.savepoint) undoes only its own write.
            await sql`savepoint inner_one`.execute(tx.db);
            await insertNote(tx.db, 3);
            await sql.raw('rollback/**/to savepoint inner_one;').execute(tx.db);
            await sql`savepoint inner_two`.execute(tx.db);
            await insertNote(tx.db, 4);
            await sql`ROLLBACK TRANSACTION TO inner_two`.execute(tx.db);
            await tx.savepoint(async () => insertNote(tx.db, 2));
            // The confined handle is a whole one: introspection and a connection() of its own work.
            expect((await tx.db.introspection.getTables()).map((table) => table.name)).toContain('notes');
            expect(await tx.db.connection().execute((conn) => noteIds(conn))).toEqual([1, 2]);
            seenMeanwhile = await noteIds(other);
            return tx.append([sample(1)]);
          }),
        ]);
        expect(refused).toEqual(attempts.map(([name]) => name));
        // Nothing of the batch was visible to another connection before it committed (no COMMIT got through).
        expect(seenMeanwhile).toEqual([]);
        expect([first, second]).toEqual([[0], [1]]);
        expect(await noteIds(other)).toEqual([1, 2]);
        expect(await checkpointSizes(other)).toEqual([2]);
        expect(await verifyLedger(other, VERIFY)).toEqual({ ok: true, size: 2, checkpoints: 1 });
      });

      it("a unit may release or roll back to its own savepoints only: the store's and the audit port's around it (their names guessable) are refused, so no write escapes its unit's rollback and no unit undoes another's", async () => {
        const { db, owner, another } = await open();
        await createNotes(owner);
        const store = await createLedgerStore({ db, origin: ORIGIN, signer, clock: fixedClock });
        const storeNames = Array.from({ length: 16 }, (_, k) => [`covenant_unit_${k}`, `covenant_sp_${k}`]).flat();
        const refusedNames: string[] = [];
        const [escaper, victim, undoer] = await Promise.allSettled([
          // Found from outside: release the enclosing savepoint, write outside it, create it again, throw.
          store.transact(async (tx) => {
            for (const name of storeNames) {
              for (const statement of [`release savepoint ${name}`, `rollback to savepoint "${name}"`, `ROLLBACK TRANSACTION TO ${name.toUpperCase()}`]) {
                await sql.raw(statement).execute(tx.db).catch((error: unknown) => {
                  if ((error as { code?: unknown }).code === 'ERR_LEDGER_LOG_UNIT_TRANSACTION') refusedNames.push(name);
                });
              }
            }
            await insertNote(tx.db, 7);
            tx.append([sample(7)]);
            throw new Error('the handler fails');
          }),
          store.transact(async (tx) => {
            await insertNote(tx.db, 42);
            return tx.append([sample(42)]);
          }),
          // And a later unit of the batch rolling back to a name the store gave the one before it.
          store.transact(async (tx) => {
            for (const name of storeNames) await sql.raw(`rollback to savepoint ${name}`).execute(tx.db).catch(() => undefined);
            // Its own savepoints work as ever, under a store's name too: a name is the unit's once it made it.
            await sql`savepoint covenant_unit_3`.execute(tx.db);
            await insertNote(tx.db, 8);
            await sql`rollback to savepoint covenant_unit_3`.execute(tx.db);
            await sql`release savepoint covenant_unit_3`.execute(tx.db);
            return 'done';
          }),
        ]);
        expect(refusedNames).toEqual(storeNames.flatMap((name) => [name, name, name]));
        expect(escaper).toMatchObject({ status: 'rejected', reason: { message: 'the handler fails' } });
        expect(victim).toEqual({ status: 'fulfilled', value: [0] });
        expect(undoer).toEqual({ status: 'fulfilled', value: 'done' });
        const other = await another();
        expect(await noteIds(other)).toEqual([42]);
        expect(await storedRequestIds(other)).toEqual(['req_42']);
        expect(await verifyLedger(other, VERIFY)).toMatchObject({ ok: true, size: 1 });
      });

      it("a unit may not shadow the store's savepoint by name: one that leaves a shadowing savepoint open is rolled back whole, so writes made before the shadow never commit without their entries; other savepoints left open are released", async () => {
        const { db, owner, another } = await open();
        await createNotes(owner);
        const store = await createLedgerStore({ db, origin: ORIGIN, signer, clock: fixedClock });
        const shadowAll = async (handle: Kysely<any>): Promise<void> => {
          for (let k = 0; k < 16; k += 1) await sql.raw(`savepoint covenant_unit_${k}`).execute(handle);
        };
        const [throwing, returning, unbalanced, honest] = await Promise.allSettled([
          // Found from outside (our own re-read): write, then create every name the store's savepoint may have.
          store.transact(async (tx) => {
            await insertNote(tx.db, 7);
            await shadowAll(tx.db);
            tx.append([sample(7)]);
            throw new Error('the handler fails');
          }),
          store.transact(async (tx) => {
            await insertNote(tx.db, 8);
            await shadowAll(tx.db);
            return tx.append([sample(8)]);
          }),
          // A savepoint left open under a name of its own is only released: the unit stands.
          store.transact(async (tx) => {
            await sql`savepoint left_open`.execute(tx.db);
            await insertNote(tx.db, 9);
            await sql`rollback to savepoint left_open`.execute(tx.db);
            await insertNote(tx.db, 10);
            return tx.append([sample(10)]);
          }),
          store.transact(async (tx) => (await insertNote(tx.db, 42), tx.append([sample(42)]))),
        ]);
        expect(throwing).toMatchObject({ status: 'rejected', reason: { message: 'the handler fails' } });
        expect(returning).toMatchObject({ status: 'rejected', reason: { code: 'ERR_LEDGER_LOG_UNIT_TRANSACTION' } });
        expect(unbalanced).toEqual({ status: 'fulfilled', value: [0] });
        expect(honest).toEqual({ status: 'fulfilled', value: [1] });
        const other = await another();
        expect(await noteIds(other)).toEqual([10, 42]);
        expect(await storedRequestIds(other)).toEqual(['req_10', 'req_42']);
      });

      it("a unit that holds the batch's connection (a connection() callback that never settles) is failed at its time bound and the batch goes on", async () => {
        const { db, owner, another } = await open();
        await createNotes(owner);
        const store = await createLedgerStore({ db, origin: ORIGIN, signer, clock: fixedClock, workTimeoutMs: 300 });
        const [held, honest] = await Promise.allSettled([
          store.transact(async (tx) => {
            await insertNote(tx.db, 1);
            await tx.db.connection().execute(() => new Promise<never>(() => undefined));
          }),
          store.transact(async (tx) => (await insertNote(tx.db, 2), tx.append([sample(2)]))),
        ]);
        expect(held).toMatchObject({ status: 'rejected', reason: { name: 'LedgerWorkTimeoutError' } });
        expect(honest).toEqual({ status: 'fulfilled', value: [0] });
        const other = await another();
        expect(await noteIds(other)).toEqual([2]);
        expect(await store.append([sample(3)])).toEqual([1]);
      });

      it('nothing a unit sets on its session outlives the batch: PRAGMA and ATTACH are refused (SQLite), SET and session advisory locks are discarded after it (PostgreSQL)', async () => {
        const { db, owner } = await open();
        await createNotes(owner);
        const postgres = dialectOf(db) === 'postgres';
        const store = await createLedgerStore({ db, origin: ORIGIN, signer, clock: fixedClock });
        const outcome = await store.transact(async (tx) => {
          if (!postgres) {
            const refusals = [];
            for (const statement of ['pragma query_only = on', "attach database ':memory:' as elsewhere", '/* x */ PRAGMA journal_mode = delete']) {
              refusals.push(await sql.raw(statement).execute(tx.db).then(() => 'ran', (error: unknown) => (error as { code?: string }).code));
            }
            return refusals;
          }
          await sql`set session characteristics as transaction read only`.execute(tx.db);
          await sql`set default_transaction_read_only = on`.execute(tx.db);
          await sql`select pg_advisory_lock(${ADVISORY_LOCKS.namespace}, ${ADVISORY_LOCKS.ledgerWriter})`.execute(tx.db);
          return ['set'];
        });
        expect(outcome).toEqual(postgres ? ['set'] : ['ERR_LEDGER_LOG_UNIT_TRANSACTION', 'ERR_LEDGER_LOG_UNIT_TRANSACTION', 'ERR_LEDGER_LOG_UNIT_TRANSACTION']);
        // Later batches write, and so does a second store (it would wait for ever on a leaked writer lock).
        expect(await store.transact(async (tx) => (await insertNote(tx.db, 1), tx.append([sample(1)])))).toEqual([0]);
        const second = await createLedgerStore({ db, origin: ORIGIN, signer });
        expect(await second.append([sample(2)])).toEqual([1]);
        expect(await noteIds(db)).toEqual([1]);
      });

      it('a throwing unit (even after a failed statement) is rolled back alone, writes and entries; the rest of its batch commits under one checkpoint', async () => {
        const { db, owner } = await open();
        await createNotes(owner);
        const store = await createLedgerStore({ db, origin: ORIGIN, signer, clock: fixedClock });
        const boom = new Error('handler failed');
        const [kept, failed, broken, plain] = await Promise.allSettled([
          store.transact(async (tx) => {
            await insertNote(tx.db, 1);
            return tx.append([sample(0)]);
          }),
          store.transact(async (tx) => {
            await insertNote(tx.db, 2);
            tx.append([sample(1)]);
            throw boom;
          }),
          store.transact(async (tx) => {
            tx.append([sample(2)]);
            // A failing statement (duplicate key) aborts a PostgreSQL transaction: the unit's savepoint recovers it.
            await insertNote(tx.db, 1);
          }),
          store.append([sample(3)]),
        ]);
        expect(kept).toEqual({ status: 'fulfilled', value: [0] });
        expect(failed).toEqual({ status: 'rejected', reason: boom });
        expect(broken.status).toBe('rejected');
        expect(plain).toEqual({ status: 'fulfilled', value: [1] });
        expect(await noteIds(db)).toEqual([1]);
        expect(await storedRequestIds(db)).toEqual(['req_0', 'req_3']);
        expect(await checkpointSizes(db)).toEqual([2]);
        expect(await verifyLedger(db, VERIFY)).toEqual({ ok: true, size: 2, checkpoints: 1 });
      });

      it('tx.savepoint rolls back its writes and entries on throw and rethrows; the unit goes on and commits the rest', async () => {
        const { db, owner } = await open();
        await createNotes(owner);
        const store = await createLedgerStore({ db, origin: ORIGIN, signer });
        const inner = new Error('inner failed');
        const result = await store.transact(async (tx) => {
          const first = await tx.savepoint(async () => {
            await insertNote(tx.db, 1);
            return tx.append([sample(0)]);
          });
          await expect(
            tx.savepoint(async () => {
              await insertNote(tx.db, 2);
              tx.append([sample(1)]);
              throw inner;
            }),
          ).rejects.toBe(inner);
          // A failed statement inside a savepoint: the unit's transaction stays usable.
          await expect(tx.savepoint(() => insertNote(tx.db, 1))).rejects.toThrow();
          return [...first, ...tx.append([sample(2)])];
        });
        expect(result).toEqual([0, 1]);
        expect(await noteIds(db)).toEqual([1]);
        expect(await storedRequestIds(db)).toEqual(['req_0', 'req_2']);
        expect(await verifyLedger(db, VERIFY)).toEqual({ ok: true, size: 2, checkpoints: 1 });
      });

      it('a batch of failing units only stores nothing and signs no checkpoint', async () => {
        const { db, owner } = await open();
        await createNotes(owner);
        const store = await createLedgerStore({ db, origin: ORIGIN, signer });
        const results = await Promise.allSettled(
          [1, 2].map((id) =>
            store.transact(async (tx) => {
              await insertNote(tx.db, id);
              tx.append([sample(id)]);
              throw new Error(`unit ${id} failed`);
            }),
          ),
        );
        expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
        expect(await noteIds(db)).toEqual([]);
        expect(await storedSeqs(db)).toEqual([]);
        expect(await checkpointSizes(db)).toEqual([]);
        expect(await store.latestCheckpoint()).toBeNull();
        expect(await store.append([sample(9)])).toEqual([0]);
      });

      it('transactionOf finds the running unit by its handle only; after the unit settles its handle and append are revoked', async () => {
        const { db, owner } = await open();
        await createNotes(owner);
        const store = await createLedgerStore({ db, origin: ORIGIN, signer });
        let captured: LedgerTransaction | undefined;
        let during: LedgerTransaction | null = null;
        let onBase: LedgerTransaction | null | undefined;
        await store.transact(async (tx) => {
          captured = tx;
          during = store.transactionOf(tx.db);
          onBase = store.transactionOf(db);
          // Code handed only the handle (an RBAC store bound to ctx.db) appends to the same transaction.
          store.transactionOf(tx.db)!.append([sample(0, { kind: 'event' })]);
          await insertNote(tx.db, 1);
        });
        const tx = captured!;
        expect(during).toBe(tx);
        expect(onBase).toBeNull();
        for (const handle of [tx.db, db, null, undefined, {}, tx]) expect(store.transactionOf(handle)).toBeNull();
        await expect(insertNote(tx.db, 2)).rejects.toMatchObject({ code: 'ERR_LEDGER_LOG_CLOSED' });
        // Dropping the handle's plugins does not take the revocation with them (it is below kysely's plugins).
        await expect(insertNote(tx.db.withoutPlugins(), 2)).rejects.toMatchObject({ code: 'ERR_LEDGER_LOG_CLOSED' });
        await expect(tx.db.getExecutor().provideConnection((conn) => conn.executeQuery(CompiledQuery.raw('select 1')))).rejects.toMatchObject({ code: 'ERR_LEDGER_LOG_CLOSED' });
        expect(() => tx.append([sample(1)])).toThrow(LogError);
        expect(await noteIds(db)).toEqual([1]);
        expect(await storedRequestIds(db)).toEqual(['req_0']);
      });

      it('flush resolves once every queued append and unit has settled, committed or failed', async () => {
        const { db } = await open();
        const store = await createLedgerStore({ db, origin: ORIGIN, signer });
        const settled: string[] = [];
        const append = store.append([sample(0)]).then(() => settled.push('append'));
        const unit = store
          .transact(async (tx) => {
            tx.append([sample(1)]);
            throw new Error('no');
          })
          .catch(() => settled.push('failed unit'));
        await store.flush();
        expect(settled.sort()).toEqual(['append', 'failed unit']);
        await Promise.all([append, unit]);
        expect(await storedSeqs(db)).toEqual([0]);
      });
    });

    describe('open intents', () => {
      it('lists intents without an outcome of the same request id, oldest first, including those another store appended', async () => {
        const { db, another } = await open();
        const store = await createLedgerStore({ db, origin: ORIGIN, signer });
        const other = await createLedgerStore({ db: await another(), origin: ORIGIN, signer });
        expect(await store.openIntents()).toEqual([]);
        await store.append([sample(0), sample(1), sample(2)]);
        await store.append([sample(1, { kind: 'outcome', outcome: 'ok' }), sample(3, { kind: 'event' })]);
        await other.append([sample(4), sample(2, { kind: 'outcome', outcome: 'failed' })]);
        expect((await store.openIntents()).map((entry) => [entry.seq, entry.requestId, entry.kind])).toEqual([
          [0, 'req_0', 'intent'],
          [5, 'req_4', 'intent'],
        ]);
        expect((await other.openIntents()).map((entry) => entry.seq)).toEqual([0, 5]);
      });
    });

    describe('isOpen (what recovery re-checks inside the writer lock)', () => {
      it('an intent is open until a later outcome of its request id, the batch\'s own entries included; flipped columns do not change the answer', async () => {
        const { db, owner } = await open();
        const store = await createLedgerStore({ db, origin: ORIGIN, signer, clock: fixedClock });
        await store.append([sample(1), sample(2), sample(1, { kind: 'outcome', outcome: 'ok' }), sample(9, { kind: 'event' })]);
        // Someone flips the committed outcome's kind and the open intent's (and puts the triggers back, so the
        // schema check does not stop the store first): the store decided from the bodies.
        const restore = await disableAppendOnly(owner);
        await tables(owner).updateTable('ledger_entries').set({ kind: 'event' }).where('seq', 'in', [1, 2]).execute();
        await restore();
        const seen = await store.transact(async (tx) => {
          const before = [tx.isOpen('req_1'), tx.isOpen('req_2'), tx.isOpen('req_unknown')];
          tx.append([sample(2, { kind: 'outcome', outcome: 'aborted' }), sample(3)]);
          const after = [tx.isOpen('req_2'), tx.isOpen('req_3')];
          await tx
            .savepoint(async () => {
              tx.append([sample(3, { kind: 'outcome', outcome: 'ok' })]);
              throw new Error('rolled back');
            })
            .catch(() => undefined);
          return { before, after, rolledBack: tx.isOpen('req_3') };
        });
        expect(seen).toEqual({ before: [false, true, false], after: [false, true], rolledBack: true });
        expect((await store.openIntents()).map((entry) => entry.requestId)).toEqual(['req_3']);
      });
    });

    describe('several stores on one database', () => {
      it('two stores on two connections append concurrently: N×M entries, gap-free, both see one log, and it verifies', async () => {
        const { db, another } = await open();
        const secondDb = await another();
        const a = await createLedgerStore({ db, origin: ORIGIN, signer, clock: fixedClock });
        const b = await createLedgerStore({ db: secondDb, origin: ORIGIN, signer, clock: fixedClock });
        const rounds = 10;
        const written: number[] = [];
        for (let i = 0; i < rounds; i += 1) {
          // Both stores flush in the same tick, so their batch transactions contend for the writer lock.
          const results = await Promise.all([
            a.append([sample(i), sample(100 + i)]),
            b.append([sample(200 + i)]),
            a.append([sample(300 + i)]),
            b.append([sample(400 + i), sample(500 + i)]),
          ]);
          for (const seqs of results) written.push(...seqs);
        }
        const total = rounds * 6;
        expect([...written].sort((x, y) => x - y)).toEqual(Array.from({ length: total }, (_, i) => i));
        expect(await storedSeqs(db)).toEqual(Array.from({ length: total }, (_, i) => i));
        expect(await a.size()).toBe(total);
        expect(await b.size()).toBe(total);
        expect((await a.latestCheckpoint())?.note).toBe((await b.latestCheckpoint())?.note);
        expect(await verifyLedger(secondDb, VERIFY)).toMatchObject({ ok: true, size: total });
        // A bundle from either store verifies against the bytes the other reads.
        for (const seq of [0, total - 1]) {
          const bundle = JSON.parse(JSON.stringify(await b.inclusionBundle(seq)));
          expect(verifyBundle(bundle, KEY, (await a.readEntry(seq)).bytes)).toMatchObject({ ok: true, leafIndex: seq });
        }
      });

      it('a store reopened on the database (another connection) loads the same size and root and continues the sequence', async () => {
        const { db, another } = await open();
        const store = await createLedgerStore({ db, origin: ORIGIN, signer });
        await store.append([sample(0), sample(1)]);
        await store.append([sample(2)]);
        const before = (await store.latestCheckpoint())!;
        await store.close();
        await expect(store.append([sample(3)])).rejects.toMatchObject({ code: 'ERR_LEDGER_LOG_CLOSED' });
        const again = await createLedgerStore({ db: await another(), origin: ORIGIN, signer });
        expect(await again.size()).toBe(3);
        expect((await again.latestCheckpoint())?.checkpoint).toEqual(before.checkpoint);
        expect((await again.latestCheckpoint())?.note).toBe(before.note);
        expect(await again.append([sample(3)])).toEqual([3]);
        expect(await verifyLedger(db, VERIFY)).toEqual({ ok: true, size: 4, checkpoints: 3 });
      });

      it('without a signer a store is read-only but serves proofs; another key cannot open the log', async () => {
        const { db, another } = await open();
        await (await createLedgerStore({ db, origin: ORIGIN, signer })).append([sample(0), sample(1)]);
        const reader = await createLedgerStore({ db: await another(), origin: ORIGIN });
        await expect(reader.append([sample(2)])).rejects.toMatchObject({ code: 'ERR_LEDGER_LOG_READ_ONLY' });
        await expect(reader.transact(async () => 1)).rejects.toMatchObject({ code: 'ERR_LEDGER_LOG_READ_ONLY' });
        expect(verifyBundle(await reader.inclusionBundle(1), KEY, (await reader.readEntry(1)).bytes).ok).toBe(true);
        await expect(createLedgerStore({ db, origin: ORIGIN, signer: stranger })).rejects.toBeInstanceOf(LogError);
        expect(await storedSeqs(db)).toEqual([0, 1]);
      });
    });

    describe('rows the store did not write (catch-up trusts nothing)', () => {
      it('a canonical, correctly hashed row inserted from another connection while the store runs is refused: nothing is signed over it, it is never provable, and a reopened store refuses the log', async () => {
        const { db, another } = await open();
        const store = await createLedgerStore({ db, origin: ORIGIN, signer, clock: fixedClock });
        expect(await store.append([sample(0), sample(1)])).toEqual([0, 1]);
        // The forged "break-glass approved" event, exactly as the store would have written it.
        const attacker = await another();
        await insertForeignRow(attacker, 2, sample(2, { kind: 'event', action: 'access.breakGlass.approved', requestId: null }));
        // The next append (what the next audited call makes) fails closed, and so does every later one.
        await expect(store.append([sample(3)])).rejects.toMatchObject({ name: 'LogError', code: 'ERR_LEDGER_LOG_UNSEALED' });
        await expect(store.transact(async (tx) => tx.append([sample(4)]))).rejects.toMatchObject({ code: 'ERR_LEDGER_LOG_UNSEALED' });
        await expect(store.inclusionBundle(2)).rejects.toMatchObject({ code: 'ERR_LEDGER_LOG_UNSEALED' });
        await expect(store.readEntry(2)).rejects.toMatchObject({ code: 'ERR_LEDGER_LOG_UNSEALED' });
        expect(await checkpointSizes(db)).toEqual([2]);
        expect(await storedSeqs(db)).toEqual([0, 1, 2]);
        await expect(createLedgerStore({ db: attacker, origin: ORIGIN, signer })).rejects.toMatchObject({ code: 'ERR_LEDGER_LOG_UNSEALED' });
        expect(await verifyLedger(db, VERIFY)).toMatchObject({ ok: false, index: 2, code: 'ERR_LEDGER_LOG_UNSEALED' });
      });

      it('a garbage row is refused the same way (ERR_LEDGER_LOG_ENTRY_MALFORMED); the log stays sealed and verifiable up to it', async () => {
        const { db, another } = await open();
        const store = await createLedgerStore({ db, origin: ORIGIN, signer, clock: fixedClock });
        await store.append([sample(0), sample(1)]);
        const garbage = new TextEncoder().encode('{"not":"an entry"}');
        await tables(await another())
          .insertInto('ledger_entries')
          .values({ seq: 2, body: garbage, leaf_hash: leafHash(garbage), kind: 'intent', request_id: 'req_x', at: AT })
          .execute();
        await expect(store.append([sample(3)])).rejects.toMatchObject({ code: 'ERR_LEDGER_LOG_ENTRY_MALFORMED' });
        await expect(store.size()).rejects.toMatchObject({ code: 'ERR_LEDGER_LOG_ENTRY_MALFORMED' });
        expect(await checkpointSizes(db)).toEqual([2]);
      });

      it('rows inserted with a checkpoint the log key did not sign are refused (ERR_LEDGER_LOG_ROOT_MISMATCH)', async () => {
        const { db, another } = await open();
        const store = await createLedgerStore({ db, origin: ORIGIN, signer, clock: fixedClock });
        await store.append([sample(0), sample(1)]);
        const attacker = await another();
        await insertForeignCheckpointedRow(attacker, 2, sample(2));
        await expect(store.append([sample(3)])).rejects.toMatchObject({ code: 'ERR_LEDGER_LOG_ROOT_MISMATCH' });
        await expect(createLedgerStore({ db: attacker, origin: ORIGIN, signer })).rejects.toMatchObject({ code: 'ERR_LEDGER_LOG_ROOT_MISMATCH' });
        expect(await checkpointSizes(db)).toEqual([2, 3]);
      });

      it('two forged batches, each under a checkpoint over its right root that another key signed, are taken in not even in part: only the last checkpoint\'s signature is checked, so the first one vouches for nothing', async () => {
        const { db, another } = await open();
        const store = await createLedgerStore({ db, origin: ORIGIN, signer, clock: fixedClock });
        expect(await store.append([sample(0), sample(1)])).toEqual([0, 1]);
        const attacker = await another();
        const forged = sample(2, { kind: 'event', action: 'access.breakGlass.approved', requestId: null });
        await insertForeignCheckpointedRow(attacker, 2, forged);
        await insertForeignCheckpointedRow(attacker, 3, forged);
        await expect(store.append([sample(4)])).rejects.toMatchObject({ code: 'ERR_LEDGER_LOG_ROOT_MISMATCH' });
        // The first forged entry is not part of the verified log either: not served, not provable.
        await expect(store.readEntry(2)).rejects.toMatchObject({ code: 'ERR_LEDGER_LOG_ROOT_MISMATCH' });
        await expect(store.inclusionBundle(2)).rejects.toMatchObject({ code: 'ERR_LEDGER_LOG_ROOT_MISMATCH' });
        expect(await checkpointSizes(db)).toEqual([2, 3, 4]);
      });

      it('a read-only store given the log\'s key (verifierKey) refuses such a log as a writer does; one given no key serves the forged checkpoint', async () => {
        const { db, another } = await open();
        await (await createLedgerStore({ db, origin: ORIGIN, signer, clock: fixedClock })).append([sample(0), sample(1)]);
        const forged = await insertForeignCheckpointedRow(await another(), 2, sample(2));
        const verifierKey = { name: signer.name, publicKey: signer.publicKey };
        await expect(createLedgerStore({ db: await another(), origin: ORIGIN, verifierKey })).rejects.toMatchObject({ code: 'ERR_LEDGER_LOG_ROOT_MISMATCH' });
        const unkeyed = await createLedgerStore({ db: await another(), origin: ORIGIN });
        expect((await unkeyed.latestCheckpoint())?.note).toBe(forged);
        // The same log, before the forgery, opens with the key: the read-only store is not simply refusing.
        const { db: clean } = await open();
        await (await createLedgerStore({ db: clean, origin: ORIGIN, signer, clock: fixedClock })).append([sample(0), sample(1)]);
        const keyed = await createLedgerStore({ db: clean, origin: ORIGIN, verifierKey });
        expect((await keyed.latestCheckpoint())?.checkpoint.size).toBe(2);
        await expect(keyed.append([sample(2)])).rejects.toMatchObject({ code: 'ERR_LEDGER_LOG_READ_ONLY' });
      });

      it('an entry whose unhashed kind, request_id or at column was changed is refused when the store opens (ERR_LEDGER_LOG_INDEX_MISMATCH)', async () => {
        const { db, owner } = await open();
        const store = await createLedgerStore({ db, origin: ORIGIN, signer, clock: fixedClock });
        await store.append([sample(0), sample(0, { kind: 'outcome', outcome: 'ok' })]);
        await store.append([sample(2)]);
        await store.close();
        /** The owner changes one column, triggers off and back on: only the column differs from the body. */
        const setColumn = async (column: 'kind' | 'request_id' | 'at', value: string): Promise<void> => {
          const restore = await disableAppendOnly(owner);
          await tables(owner).updateTable('ledger_entries').set({ [column]: value }).where('seq', '=', 1).execute();
          await restore();
        };
        for (const [column, value, original] of [
          ['kind', 'event', 'outcome'],
          ['request_id', 'req_other', 'req_0'],
          ['at', '2026-01-02T03:04:05.679Z', AT],
        ] as const) {
          await setColumn(column, value);
          await expect(createLedgerStore({ db, origin: ORIGIN, signer })).rejects.toMatchObject({ code: 'ERR_LEDGER_LOG_INDEX_MISMATCH' });
          expect(await verifyLedger(db, VERIFY)).toMatchObject({ ok: false, index: 1, code: 'ERR_LEDGER_LOG_INDEX_MISMATCH' });
          await setColumn(column, original);
        }
        expect(await verifyLedger(db, VERIFY)).toMatchObject({ ok: true, size: 3 });
      });

      it('the running store sees its last entry or checkpoint deleted behind its back (a tail cut at a batch boundary) and signs nothing (ERR_LEDGER_LOG_TRUNCATED)', async () => {
        for (const cut of ['entries and checkpoint', 'entries only'] as const) {
          const { db, owner } = await open();
          const store = await createLedgerStore({ db, origin: ORIGIN, signer, clock: fixedClock });
          await store.append([sample(0), sample(1)]);
          await store.append([sample(2)]);
          // The owner's connection (on PostgreSQL the serving role cannot), triggers put back after.
          const restore = await disableAppendOnly(owner);
          await tables(owner).deleteFrom('ledger_entries').where('seq', '>=', 2).execute();
          if (cut === 'entries and checkpoint') await tables(owner).deleteFrom('ledger_checkpoints').where('size', '>', 2).execute();
          await restore();
          await expect(store.append([sample(3)])).rejects.toMatchObject({ code: 'ERR_LEDGER_LOG_TRUNCATED' });
          expect(await checkpointSizes(db)).toEqual(cut === 'entries only' ? [2, 3] : [2]);
          expect(await storedSeqs(db)).toEqual([0, 1]);
        }
      });

      it('a checkpoint row inserted by someone else while a batch runs, or inside it before its entries, is refused by the database: the log stays verifiable', async () => {
        const { db, another } = await open();
        const store = await createLedgerStore({ db, origin: ORIGIN, signer, clock: fixedClock });
        await store.append([sample(0), sample(1)]);
        if (dialectOf(db) === 'postgres') {
          // Another connection (the serving role may INSERT), while a batch holds the writer lock and has written
          // its entries, uncommitted: it counts the committed entries only, so a checkpoint inside the batch is
          // refused. (SQLite has no such moment: its one writer holds the whole file while a batch runs.)
          const attacker = await another();
          let attempt: Promise<unknown> | null = null;
          const unit = store.transact(async (tx) => {
            tx.append([sample(2), sample(3)]);
            attempt = tables(attacker).insertInto('ledger_checkpoints').values({ size: 3, root: new Uint8Array(32), note: 'forged', at: AT }).execute().then(
              () => null,
              (error: unknown) => error,
            );
            return 'done';
          });
          expect(await unit).toBe('done');
          expect(String(await attempt)).toMatch(/covers exactly the entries/);
        } else {
          await store.append([sample(2), sample(3)]);
        }
        // Inside the batch, before its entries are inserted (a trigger on an application table, a unit's raw
        // SQL): the batch's own connection counts the committed entries too, and is refused the same way.
        const inside = await store
          .transact(async (tx) => {
            await tables(tx.db).insertInto('ledger_checkpoints').values({ size: 5, root: new Uint8Array(32), note: 'forged', at: AT }).execute();
          })
          .catch((error: unknown) => error);
        expect(String(inside)).toMatch(/covers exactly the entries/);
        await store.append([sample(4)]);
        expect(await checkpointSizes(db)).toEqual([2, 4, 5]);
        expect(await verifyLedger(db, VERIFY)).toMatchObject({ ok: true, size: 5 });
        await expect(createLedgerStore({ db, origin: ORIGIN, signer })).resolves.toBeDefined();
      });

      it("catches up with another writer's batches (entries and checkpoint committed together) and goes on", async () => {
        const { db, another } = await open();
        const a = await createLedgerStore({ db, origin: ORIGIN, signer, clock: fixedClock });
        const b = await createLedgerStore({ db: await another(), origin: ORIGIN, signer, clock: fixedClock });
        await a.append([sample(0)]);
        await b.append([sample(1), sample(2)]);
        await b.append([sample(3)]);
        await b.transact(async (tx) => void tx.append([sample(4)]));
        expect(await a.append([sample(5)])).toEqual([5]);
        expect((await a.openIntents()).map((entry) => entry.seq)).toEqual([0, 1, 2, 3, 4, 5]);
        expect(await b.append([sample(6)])).toEqual([6]);
        expect(await verifyLedger(db, VERIFY)).toEqual({ ok: true, size: 7, checkpoints: 6 });
      });
    });

    describe('entry times', () => {
      it('are never earlier than the entry before them: a clock that goes back 1 h, ours or another writer\'s, does not date the log backwards', async () => {
        const { db, another } = await open();
        const clock = settableClock('2026-05-01T12:00:00.000Z');
        const store = await createLedgerStore({ db, origin: ORIGIN, signer, clock });
        await store.append([sample(0)]);
        clock.set('2026-05-01T11:00:00.000Z');
        await store.append([sample(1)]);
        // Another writer whose clock runs ahead: its entries set the floor for ours.
        const other = await createLedgerStore({ db: await another(), origin: ORIGIN, signer, clock: settableClock('2026-05-01T12:30:00.000Z') });
        await other.append([sample(2)]);
        await store.append([sample(3)]);
        clock.set('2026-05-01T13:00:00.000Z');
        await store.append([sample(4)]);
        const ats = await Promise.all([0, 1, 2, 3, 4].map(async (seq) => (await store.readEntry(seq)).entry.at));
        expect(ats).toEqual([
          '2026-05-01T12:00:00.000Z',
          '2026-05-01T12:00:00.000Z',
          '2026-05-01T12:30:00.000Z',
          '2026-05-01T12:30:00.000Z',
          '2026-05-01T13:00:00.000Z',
        ]);
        expect(await verifyLedger(db, VERIFY)).toMatchObject({ ok: true, size: 5 });
        // A store opened on the log takes the floor from it.
        const reopened = await createLedgerStore({ db: await another(), origin: ORIGIN, signer, clock: settableClock('2026-05-01T10:00:00.000Z') });
        await reopened.append([sample(5)]);
        expect((await reopened.readEntry(5)).entry.at).toBe('2026-05-01T13:00:00.000Z');
      });
    });

    describe('the state file (the highest head outside the database)', () => {
      /** A user other than the service's (and not root): the "attacker" who owns a folder or link on the way. */
      const ATTACKER_UID = 1234;
      const folders: Array<{ dispose(): void }> = [];
      afterEach(() => {
        for (const folder of folders.splice(0)) folder.dispose();
      });
      const folder = () => {
        const created = stateFolder();
        folders.push(created);
        return created;
      };

      it('records the signed head before the batch is answered; a log truncated at a batch boundary (entries and heads deleted together) is refused on restart', async () => {
        const { db, owner } = await open();
        const stateFile = folder().path('ledger.state');
        const store = await createLedgerStore({ db, origin: ORIGIN, signer, clock: fixedClock, stateFile });
        await store.append([sample(0), sample(1)]);
        expect(readFileSync(stateFile, 'utf8')).toBe((await store.latestCheckpoint())!.note);
        await store.append([sample(2)]);
        const head = (await store.latestCheckpoint())!;
        expect(readFileSync(stateFile, 'utf8')).toBe(head.note);
        expect(verifyCheckpoint(readFileSync(stateFile, 'utf8'), KEY)).toMatchObject({ ok: true, checkpoint: { size: 3 } });
        await store.close();
        const restore = await disableAppendOnly(owner);
        await tables(owner).deleteFrom('ledger_entries').where('seq', '>=', 2).execute();
        await tables(owner).deleteFrom('ledger_checkpoints').where('size', '>', 2).execute();
        await restore();
        // On its own the shorter log is consistent…
        expect(await verifyLedger(db, VERIFY)).toEqual({ ok: true, size: 2, checkpoints: 1 });
        // …but not with what the store signed: it refuses to open, so it never signs size 3 again.
        await expect(createLedgerStore({ db, origin: ORIGIN, signer, stateFile })).rejects.toMatchObject({ code: 'ERR_LEDGER_LOG_TRUNCATED' });
        expect(await checkpointSizes(db)).toEqual([2]);
        // The state file is a checkpoint note: verify takes it as the trusted checkpoint.
        expect(await verifyLedger(db, { ...VERIFY, trustedCheckpoint: readFileSync(stateFile, 'utf8') })).toMatchObject({ ok: false, code: 'ERR_LEDGER_LOG_TRUNCATED' });
      });

      it('a log with another root at the recorded size (rewritten by a writer without the file) is refused (ERR_LEDGER_LOG_ROOT_MISMATCH)', async () => {
        const { db, owner } = await open();
        const stateFile = folder().path('ledger.state');
        const store = await createLedgerStore({ db, origin: ORIGIN, signer, clock: fixedClock, stateFile });
        await store.append([sample(0), sample(1)]);
        await store.append([sample(2)]);
        await store.close();
        const restore = await disableAppendOnly(owner);
        await tables(owner).deleteFrom('ledger_entries').where('seq', '>=', 2).execute();
        await tables(owner).deleteFrom('ledger_checkpoints').where('size', '>', 2).execute();
        await restore();
        // A writer that remembers nothing signs size 3 a second time, over other entries: a fork.
        const forgetful = await createLedgerStore({ db, origin: ORIGIN, signer, clock: fixedClock });
        await forgetful.append([sample(99)]);
        await forgetful.append([sample(100)]);
        await expect(createLedgerStore({ db, origin: ORIGIN, signer, stateFile })).rejects.toMatchObject({ code: 'ERR_LEDGER_LOG_ROOT_MISMATCH' });
      });

      it('several stores each keep their own file and hold the log to what they saw, the other writers\' heads included', async () => {
        const { db, owner, another } = await open();
        const files = folder();
        const a = await createLedgerStore({ db, origin: ORIGIN, signer, clock: fixedClock, stateFile: files.path('a.state') });
        const b = await createLedgerStore({ db: await another(), origin: ORIGIN, signer, clock: fixedClock, stateFile: files.path('b.state') });
        await a.append([sample(0)]);
        await b.append([sample(1)]);
        await a.append([sample(2), sample(3)]);
        // b has not appended since: what it saw when it last read the log is on record.
        expect(await b.size()).toBe(4);
        const head = (await a.latestCheckpoint())!.note;
        expect(readFileSync(files.path('a.state'), 'utf8')).toBe(head);
        expect(readFileSync(files.path('b.state'), 'utf8')).toBe(head);
        const restore = await disableAppendOnly(owner);
        await tables(owner).deleteFrom('ledger_entries').where('seq', '>=', 2).execute();
        await tables(owner).deleteFrom('ledger_checkpoints').where('size', '>', 2).execute();
        await restore();
        await expect(createLedgerStore({ db: await another(), origin: ORIGIN, signer, stateFile: files.path('b.state') })).rejects.toMatchObject({
          code: 'ERR_LEDGER_LOG_TRUNCATED',
        });
      });

      it('a missing file is trust on first use (the head found is recorded); a malformed one, one of another origin or key, or one others may write is refused', async () => {
        const { db } = await open();
        const files = folder();
        await (await createLedgerStore({ db, origin: ORIGIN, signer, clock: fixedClock })).append([sample(0), sample(1)]);
        const first = files.path('first.state');
        const store = await createLedgerStore({ db, origin: ORIGIN, signer, stateFile: first });
        expect(readFileSync(first, 'utf8')).toBe((await store.latestCheckpoint())!.note);
        const note = readFileSync(first, 'utf8');
        const other = createCheckpointSigner({ name: 'conformance.example/other', privateKey: new Uint8Array(32).fill(7) });
        const latest = (await store.latestCheckpoint())!.checkpoint;
        const cases: Array<[string, string, number]> = [
          ['malformed', 'not a note\n', 0o600],
          ['empty', '', 0o600],
          ['another key', stranger.sign(latest), 0o600],
          ['another origin', other.sign({ ...latest, origin: other.name }), 0o600],
          ['writable by others', note, 0o666],
        ];
        for (const [name, text, mode] of cases) {
          const path = files.path(`${name.replace(/ /g, '-')}.state`);
          writeFileSync(path, text);
          chmodSync(path, mode);
          await expect(createLedgerStore({ db, origin: ORIGIN, signer, stateFile: path }), name).rejects.toMatchObject({ code: 'ERR_LEDGER_LOG_STATE_INVALID' });
        }
        await expect(createLedgerStore({ db, origin: ORIGIN, stateFile: first })).rejects.toBeInstanceOf(TypeError);
      });

      it.runIf(POSIX)('a state file others could replace is refused before it is read: its folder writable by group or others (not sticky), or the file a symbolic link; a sticky shared folder is fine', async () => {
        const { db } = await open();
        const files = folder();
        await (await createLedgerStore({ db, origin: ORIGIN, signer, clock: fixedClock })).append([sample(0)]);
        const honest = files.path('honest.state');
        await (await createLedgerStore({ db, origin: ORIGIN, signer, stateFile: honest })).close();
        const shared = files.path('shared');
        mkdirSync(shared);
        chmodSync(shared, 0o775);
        // Before the first start (no file yet) too: whoever may write the folder could plant one.
        for (const stateFile of [join(shared, 'first.state'), (copyFileSync(honest, join(shared, 'kept.state')), join(shared, 'kept.state'))]) {
          await expect(createLedgerStore({ db, origin: ORIGIN, signer, stateFile })).rejects.toMatchObject({
            code: 'ERR_LEDGER_LOG_STATE_INVALID',
            message: expect.stringContaining('which group or others may write'),
          });
        }
        const link = files.path('link.state');
        symlinkSync(honest, link);
        await expect(createLedgerStore({ db, origin: ORIGIN, signer, stateFile: link })).rejects.toMatchObject({
          code: 'ERR_LEDGER_LOG_STATE_INVALID',
          message: expect.stringContaining('is not a regular file'),
        });
        chmodSync(shared, 0o1777);
        const store = await createLedgerStore({ db, origin: ORIGIN, signer, stateFile: join(shared, 'kept.state') });
        expect((await store.append([sample(1)]))).toEqual([1]);
      });

      it.runIf(POSIX)('a state file in a folder that does not exist is refused at open: whoever created the folder later would own the head', async () => {
        const { db } = await open();
        const files = folder();
        await (await createLedgerStore({ db, origin: ORIGIN, signer, clock: fixedClock })).append([sample(0)]);
        const stateFile = join(files.path('not-yet'), 'ledger.state');
        await expect(createLedgerStore({ db, origin: ORIGIN, signer, stateFile })).rejects.toMatchObject({
          code: 'ERR_LEDGER_LOG_STATE_INVALID',
          message: expect.stringContaining('create it (mode 0700) first'),
        });
        mkdirSync(dirname(stateFile), { mode: 0o700 });
        const store = await createLedgerStore({ db, origin: ORIGIN, signer, stateFile });
        expect(await store.append([sample(1)])).toEqual([1]);
        expect(readFileSync(stateFile, 'utf8')).toBe((await store.latestCheckpoint())!.note);
      });

      it.runIf(ROOT)('a state file, or its folder, owned by another user is refused (runs as root, to chown)', async () => {
        const { db } = await open();
        const files = folder();
        await (await createLedgerStore({ db, origin: ORIGIN, signer, clock: fixedClock })).append([sample(0)]);
        const stateFile = files.path('ledger.state');
        await (await createLedgerStore({ db, origin: ORIGIN, signer, stateFile })).close();
        const OTHER_UID = 4242;
        chownSync(stateFile, OTHER_UID, 0);
        await expect(createLedgerStore({ db, origin: ORIGIN, signer, stateFile })).rejects.toMatchObject({
          code: 'ERR_LEDGER_LOG_STATE_INVALID',
          message: expect.stringContaining('not uid 4242'),
        });
        chownSync(stateFile, 0, 0);
        chownSync(dirname(stateFile), OTHER_UID, 0);
        await expect(createLedgerStore({ db, origin: ORIGIN, signer, stateFile })).rejects.toMatchObject({
          code: 'ERR_LEDGER_LOG_STATE_INVALID',
          message: expect.stringContaining('owned by uid 4242'),
        });
        chownSync(dirname(stateFile), 0, 0);
        await (await createLedgerStore({ db, origin: ORIGIN, signer, stateFile })).close();
      });

      // The deploy user owns the application's folder, the service its data folder inside (0700): the deploy
      // user could rename the data folder away and put another (or a link to one) in its place.
      it.runIf(ROOT)('a folder anywhere above the state file owned by another user is refused, and so is a state folder reached through a symbolic link in it (runs as root, to chown)', async () => {
        const { db } = await open();
        const files = folder();
        await (await createLedgerStore({ db, origin: ORIGIN, signer, clock: fixedClock })).append([sample(0)]);
        const app = files.path('app');
        const data = join(app, 'data');
        mkdirSync(data, { recursive: true, mode: 0o700 });
        const stateFile = join(data, 'ledger.state');
        await (await createLedgerStore({ db, origin: ORIGIN, signer, stateFile })).close();
        const OTHER_UID = 4242;
        chownSync(app, OTHER_UID, 0);
        await expect(createLedgerStore({ db, origin: ORIGIN, signer, stateFile })).rejects.toMatchObject({
          code: 'ERR_LEDGER_LOG_STATE_INVALID',
          message: expect.stringContaining(`is under ${app}, owned by uid 4242`),
        });
        // The link, in a folder of the service's own, points into the deploy user's folder: the target's chain counts.
        const mine = files.path('mine');
        mkdirSync(mine, { mode: 0o700 });
        symlinkSync(data, join(mine, 'data'));
        await expect(createLedgerStore({ db, origin: ORIGIN, signer, stateFile: join(mine, 'data', 'ledger.state') })).rejects.toMatchObject({
          code: 'ERR_LEDGER_LOG_STATE_INVALID',
          message: expect.stringContaining('owned by uid 4242'),
        });
        // And the other way round: a link the deploy user owns, to a folder of the service's.
        chownSync(app, 0, 0);
        const own = files.path('own');
        mkdirSync(own, { mode: 0o700 });
        copyFileSync(stateFile, join(own, 'ledger.state'));
        symlinkSync(own, join(app, 'linked'));
        const linked = join(app, 'linked', 'ledger.state');
        await (await createLedgerStore({ db, origin: ORIGIN, signer, stateFile: linked })).close();
        chownSync(app, OTHER_UID, 0);
        await expect(createLedgerStore({ db, origin: ORIGIN, signer, stateFile: linked })).rejects.toMatchObject({ code: 'ERR_LEDGER_LOG_STATE_INVALID' });
        chownSync(app, 0, 0);
        lchownSync(join(app, 'linked'), OTHER_UID, 0);
        await expect(createLedgerStore({ db, origin: ORIGIN, signer, stateFile: linked })).rejects.toMatchObject({
          code: 'ERR_LEDGER_LOG_STATE_INVALID',
          message: expect.stringContaining(`is under ${join(app, 'linked')}, owned by uid 4242`),
        });
      });

      // The kernel resolves a `..` after a symbolic link from where the link points, not by dropping the link
      // and the component before it (as `path.resolve` does): the folders checked must be the ones it walks.
      it.runIf(ROOT)('a .. after a symbolic link is taken from where the link points, as the kernel does: a link into another user\'s folder is refused though the .. steps back out of it on paper (runs as root, to chown)', async () => {
        const { db } = await open();
        const files = folder();
        await (await createLedgerStore({ db, origin: ORIGIN, signer, clock: fixedClock })).append([sample(0)]);
        const app = files.path('app');
        mkdirSync(join(app, 'state'), { recursive: true, mode: 0o700 });
        const attacker = files.path('attacker');
        mkdirSync(join(attacker, 'inner'), { recursive: true });
        mkdirSync(join(attacker, 'state'));
        chownSync(attacker, ATTACKER_UID, ATTACKER_UID);
        chownSync(join(attacker, 'state'), ATTACKER_UID, ATTACKER_UID);
        symlinkSync(join(attacker, 'inner'), join(app, 'link'));
        // On paper app/state/ledger.state; the kernel opens attacker/state/ledger.state (not join: it drops the `..`).
        const stateFile = `${app}/link/../state/ledger.state`;
        await expect(createLedgerStore({ db, origin: ORIGIN, signer, stateFile })).rejects.toMatchObject({
          code: 'ERR_LEDGER_LOG_STATE_INVALID',
          message: expect.stringContaining(`is under ${attacker}, owned by uid ${ATTACKER_UID}`),
        });
        expect(readdirSync(join(attacker, 'state'))).toEqual([]);
        // Through a link of the service's own the same path opens, and the head lands where the kernel walks.
        mkdirSync(join(app, 'deep', 'inner'), { recursive: true, mode: 0o700 });
        mkdirSync(join(app, 'deep', 'state'), { mode: 0o700 });
        symlinkSync(join(app, 'deep', 'inner'), join(app, 'hop'));
        const store = await createLedgerStore({ db, origin: ORIGIN, signer, stateFile: `${app}/hop/../state/ledger.state` });
        expect(readFileSync(join(app, 'deep', 'state', 'ledger.state'), 'utf8')).toBe((await store.latestCheckpoint())!.note);
        expect(readdirSync(join(app, 'state'))).toEqual([]);
      });

      // A link to a link: the attacker who owns the middle one, or the folder it is in, points it at an older note.
      it.runIf(ROOT)('every symbolic link of a chain is checked, and the folder holding each: a middle link another user owns, or one in another user\'s folder, is refused; so is a loop (runs as root, to chown)', async () => {
        const { db } = await open();
        const files = folder();
        await (await createLedgerStore({ db, origin: ORIGIN, signer, clock: fixedClock })).append([sample(0)]);
        const own = files.path('own');
        mkdirSync(own, { mode: 0o700 });
        await (await createLedgerStore({ db, origin: ORIGIN, signer, stateFile: join(own, 'ledger.state') })).close();
        const mine = files.path('mine');
        mkdirSync(mine, { mode: 0o700 });
        // The middle link in the attacker's folder (the first one, and its folder, the service's).
        const theirs = files.path('theirs');
        mkdirSync(theirs);
        symlinkSync(own, join(theirs, 'middle'));
        chownSync(theirs, ATTACKER_UID, ATTACKER_UID);
        symlinkSync(join(theirs, 'middle'), join(mine, 'first'));
        await expect(createLedgerStore({ db, origin: ORIGIN, signer, stateFile: join(mine, 'first', 'ledger.state') })).rejects.toMatchObject({
          code: 'ERR_LEDGER_LOG_STATE_INVALID',
          message: expect.stringContaining(`is under ${theirs}, owned by uid ${ATTACKER_UID}`),
        });
        // The middle link the attacker's, in a folder of the service's (reached by a relative target).
        const hop = files.path('hop');
        mkdirSync(hop, { mode: 0o700 });
        symlinkSync(own, join(hop, 'middle'));
        lchownSync(join(hop, 'middle'), ATTACKER_UID, ATTACKER_UID);
        symlinkSync('../hop/middle', join(mine, 'second'));
        const second = join(mine, 'second', 'ledger.state');
        await expect(createLedgerStore({ db, origin: ORIGIN, signer, stateFile: second })).rejects.toMatchObject({
          code: 'ERR_LEDGER_LOG_STATE_INVALID',
          message: expect.stringContaining(`is under ${join(hop, 'middle')}, owned by uid ${ATTACKER_UID}`),
        });
        lchownSync(join(hop, 'middle'), 0, 0);
        await (await createLedgerStore({ db, origin: ORIGIN, signer, stateFile: second })).close();
        symlinkSync(join(mine, 'loop-b'), join(mine, 'loop-a'));
        symlinkSync(join(mine, 'loop-a'), join(mine, 'loop-b'));
        await expect(createLedgerStore({ db, origin: ORIGIN, signer, stateFile: join(mine, 'loop-a', 'ledger.state') })).rejects.toMatchObject({
          code: 'ERR_LEDGER_LOG_STATE_INVALID',
          message: expect.stringContaining('too many symbolic links'),
        });
      });

      // Checked at open, written at every record: the place must be the same one, whatever the cwd is by then.
      it('a relative path is resolved once, at open: after a process.chdir() the heads are still written to the folder that was checked', async () => {
        const { db } = await open();
        const files = folder();
        const first = files.path('first');
        const second = files.path('second');
        mkdirSync(first, { mode: 0o700 });
        mkdirSync(second, { mode: 0o700 });
        const cwd = process.cwd();
        try {
          process.chdir(first);
          const store = await createLedgerStore({ db, origin: ORIGIN, signer, clock: fixedClock, stateFile: 'ledger.state' });
          await store.append([sample(0)]);
          process.chdir(second);
          await store.append([sample(1)]);
          expect(readFileSync(join(first, 'ledger.state'), 'utf8')).toBe((await store.latestCheckpoint())!.note);
          expect(readdirSync(second)).toEqual([]);
        } finally {
          process.chdir(cwd);
        }
      });

      it('a head that cannot be recorded fails its batch and stops the store (ERR_LEDGER_LOG_STATE_UNWRITABLE): no caller is answered for a head not on record', async () => {
        const { db } = await open();
        const files = folder();
        const store = await createLedgerStore({ db, origin: ORIGIN, signer, clock: fixedClock, stateFile: files.path('ledger.state') });
        await store.append([sample(0)]);
        files.dispose(); // the folder goes away (a full or read-only disk does the same)
        await expect(store.append([sample(1)])).rejects.toMatchObject({ code: 'ERR_LEDGER_LOG_STATE_UNWRITABLE' });
        await expect(store.append([sample(2)])).rejects.toMatchObject({ code: 'ERR_LEDGER_LOG_STATE_UNWRITABLE' });
        await expect(store.transact(async () => 1)).rejects.toMatchObject({ code: 'ERR_LEDGER_LOG_STATE_UNWRITABLE' });
        // Nor does it hand out the head it could not record.
        await expect(store.latestCheckpoint()).rejects.toMatchObject({ code: 'ERR_LEDGER_LOG_STATE_UNWRITABLE' });
        // The batch had committed (as if the process had crashed before answering); nothing after it did.
        expect(await checkpointSizes(db)).toEqual([1, 2]);
      });
    });

    describe('storage integrity', () => {
      it('the append-only triggers refuse an update, a delete and an out-of-sequence insert; the store goes on', async () => {
        const { db, owner } = await open();
        const store = await createLedgerStore({ db, origin: ORIGIN, signer });
        await store.append([sample(0)]);
        // The owner's connection: the triggers are what stops it (the serving role is stopped earlier, by privileges).
        const t = tables(owner);
        await expect(t.updateTable('ledger_entries').set({ kind: 'event' }).where('seq', '=', 0).execute()).rejects.toThrow('ledger_entries is append-only');
        await expect(t.deleteFrom('ledger_entries').execute()).rejects.toThrow('ledger_entries is append-only');
        await expect(t.deleteFrom('ledger_checkpoints').execute()).rejects.toThrow('ledger_checkpoints is append-only');
        await expect(
          t.insertInto('ledger_entries').values({ seq: 5, body: new Uint8Array(1), leaf_hash: new Uint8Array(32), kind: 'intent', request_id: null, at: AT }).execute(),
        ).rejects.toThrow(/gap-free/);
        expect(await store.append([sample(1)])).toEqual([1]);
        expect(await verifyLedger(db, VERIFY)).toEqual({ ok: true, size: 2, checkpoints: 2 });
      });

      it('verifyLedger finds a tampered entry body (triggers disabled) at its index, and a reopened store refuses the log', async () => {
        const { db, owner } = await open();
        const store = await createLedgerStore({ db, origin: ORIGIN, signer, clock: fixedClock });
        await store.append([sample(0), sample(1), sample(2)]);
        await store.append([sample(3)]);
        expect(await verifyLedger(db, VERIFY)).toEqual({ ok: true, size: 4, checkpoints: 2 });
        const restore = await disableAppendOnly(owner);
        const { bytes } = await store.readEntry(2);
        const tampered = bytes.slice();
        tampered[tampered.length - 2]! ^= 0x01;
        await tables(owner).updateTable('ledger_entries').set({ body: tampered }).where('seq', '=', 2).execute();
        expect(await verifyLedger(db, VERIFY)).toMatchObject({ ok: false, index: 2 });
        // The attacker rewrites the leaf hash too: the body is still not an entry.
        await tables(owner).updateTable('ledger_entries').set({ leaf_hash: leafHash(tampered) }).where('seq', '=', 2).execute();
        expect(await verifyLedger(db, VERIFY)).toMatchObject({ ok: false, index: 2 });
        // With the triggers still off, a store refuses to open on the schema already; put back, on the contents.
        await expect(createLedgerStore({ db, origin: ORIGIN, signer })).rejects.toMatchObject({ code: 'ERR_DB_SCHEMA_ALTERED' });
        await restore();
        await expect(createLedgerStore({ db, origin: ORIGIN, signer })).rejects.toMatchObject({ code: 'ERR_LEDGER_LOG_ENTRY_MALFORMED' });
        // A canonical forgery with its own leaf hash: the stored hashes no longer have the signed root.
        const again = await disableAppendOnly(owner);
        const forged = encodeEntry({ v: 1, seq: 2, at: AT, ...sample(2, { action: 'orders.refund' }) });
        await tables(owner).updateTable('ledger_entries').set({ body: forged, leaf_hash: leafHash(forged) }).where('seq', '=', 2).execute();
        expect(await verifyLedger(db, VERIFY)).toMatchObject({ ok: false, code: 'ERR_LEDGER_LOG_ROOT_MISMATCH' });
        await again();
        await expect(createLedgerStore({ db, origin: ORIGIN, signer })).rejects.toMatchObject({ code: 'ERR_LEDGER_LOG_ROOT_MISMATCH' });
      });

      it('a writable store refuses to open when an append-only trigger is gone (dropped, or disabled on PostgreSQL), naming it; a read-only one still opens', async () => {
        const { db, owner } = await open();
        await (await createLedgerStore({ db, origin: ORIGIN, signer })).append([sample(0)]);
        await removeTrigger(owner, 'ledger_entries', 'ledger_entries_no_delete');
        const error = await createLedgerStore({ db, origin: ORIGIN, signer }).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(SchemaAlteredError);
        expect(error).toMatchObject({
          code: 'ERR_DB_SCHEMA_ALTERED',
          differences: [{ type: 'trigger', name: 'ledger_entries_no_delete', problem: dialectOf(db) === 'postgres' ? 'disabled' : 'missing' }],
        });
        expect((error as Error).message).toContain('ledger_entries_no_delete');
        // Signing nothing, a reader has nothing to refuse: it serves proofs the verifier checks anyway.
        expect(await (await createLedgerStore({ db, origin: ORIGIN })).size()).toBe(1);
      });

      it('a running store signs nothing once a trigger is taken away through another connection, and nothing later either, even once it is back', async () => {
        const database = await open();
        const { db, owner } = database;
        // The attacker's connection: the owner's on PostgreSQL (the serving role cannot), a second one on SQLite.
        const attacker = dialectOf(db) === 'postgres' ? owner : await database.another();
        const store = await createLedgerStore({ db, origin: ORIGIN, signer });
        expect(await store.append([sample(0)])).toEqual([0]);
        const restore = await removeTrigger(attacker, 'ledger_checkpoints', 'ledger_checkpoints_no_update');
        const refused = await Promise.allSettled([store.append([sample(1)]), store.append([sample(2)])]);
        for (const result of refused) {
          expect(result.status).toBe('rejected');
          expect((result as PromiseRejectedResult).reason).toMatchObject({
            code: 'ERR_DB_SCHEMA_ALTERED',
            differences: [{ type: 'trigger', name: 'ledger_checkpoints_no_update' }],
          });
        }
        expect(await storedSeqs(owner)).toEqual([0]);
        expect(await checkpointSizes(owner)).toEqual([1]);
        await restore();
        await expect(store.append([sample(3)])).rejects.toMatchObject({ code: 'ERR_DB_SCHEMA_ALTERED' });
        await expect(store.transact(async (tx) => tx.append([sample(4)]))).rejects.toMatchObject({ code: 'ERR_DB_SCHEMA_ALTERED' });
        expect(await checkpointSizes(owner)).toEqual([1]);
        // A store opened anew (a restart, once someone has looked) verifies the schema again and goes on.
        expect(await (await createLedgerStore({ db, origin: ORIGIN, signer })).append([sample(5)])).toEqual([1]);
        expect(await verifyLedger(db, VERIFY)).toEqual({ ok: true, size: 2, checkpoints: 2 });
      });

      it('a unit of work cannot take a trigger away from its own batch, nor shadow a ledger table with a temporary one (its name in another case too)', async () => {
        const { db, owner } = await open();
        const postgres = dialectOf(db) === 'postgres';
        await (await createLedgerStore({ db, origin: ORIGIN, signer })).append([sample(0)]);
        const attacks = [
          {
            run: (conn: Kysely<any>) =>
              postgres ? sql`alter table ledger_entries disable trigger ledger_entries_no_delete`.execute(conn) : sql`drop trigger ledger_entries_no_delete`.execute(conn),
            found: { type: 'trigger', name: 'ledger_entries_no_delete', problem: 'missing' },
          },
          {
            run: (conn: Kysely<any>) => sql`create temporary table ledger_checkpoints (size integer, root blob, note text, at text)`.execute(conn),
            found: { type: 'table', name: 'temp.ledger_checkpoints', problem: 'unexpected' },
          },
          // Found from outside: SQLite resolves names case-insensitively, so this one shadows ledger_entries too.
          {
            run: (conn: Kysely<any>) => sql`create temporary table LEDGER_ENTRIES as select * from ledger_entries`.execute(conn),
            found: { type: 'table', name: 'temp.LEDGER_ENTRIES', problem: 'unexpected' },
          },
        ];
        let size = 1;
        for (const attack of attacks) {
          // A store opened now also proves that the previous attack left the schema as the migrations made it.
          const store = await createLedgerStore({ db, origin: ORIGIN, signer });
          const batch = await Promise.allSettled([
            store.transact(async (tx) => {
              tx.append([sample(1)]);
              await attack.run(tx.db);
            }),
            store.append([sample(2)]),
          ]);
          if (postgres) {
            // The serving role may neither alter the table nor create temporary tables: PostgreSQL refuses the
            // statement (42501), the unit fails, and the rest of its batch commits with the triggers in place.
            expect(batch[0]).toMatchObject({ status: 'rejected', reason: { code: '42501' } });
            expect(batch[1]).toEqual({ status: 'fulfilled', value: [size] });
            size += 1;
          } else {
            // SQLite runs it; the check before the signature refuses the whole batch, which rolls the DDL back too.
            for (const result of batch) expect(result).toMatchObject({ status: 'rejected', reason: { code: 'ERR_DB_SCHEMA_ALTERED', differences: [attack.found] } });
          }
        }
        expect(await storedSeqs(owner)).toEqual(Array.from({ length: size }, (_, i) => i));
        await createLedgerStore({ db, origin: ORIGIN, signer });
        expect(await verifyLedger(db, VERIFY)).toMatchObject({ ok: true, size });
      });

      it('verifyLedger finds a deleted tail (entries and their checkpoint) only against a checkpoint kept outside, and unsealed entries always', async () => {
        const { db, owner } = await open();
        const store = await createLedgerStore({ db, origin: ORIGIN, signer });
        await store.append([sample(0), sample(1)]);
        await store.append([sample(2)]);
        const kept = (await store.latestCheckpoint())!.note;
        await disableAppendOnly(owner);
        await tables(owner).deleteFrom('ledger_checkpoints').where('size', '=', 3).execute();
        // Entry 2 is now not covered by any checkpoint.
        expect(await verifyLedger(db, VERIFY)).toMatchObject({ ok: false, index: 2 });
        await tables(owner).deleteFrom('ledger_entries').where('seq', '=', 2).execute();
        // A log cut at a checkpoint boundary looks honest on its own…
        expect(await verifyLedger(db, VERIFY)).toEqual({ ok: true, size: 2, checkpoints: 1 });
        // …but not against a checkpoint kept outside the database.
        expect(await verifyLedger(db, { ...VERIFY, trustedCheckpoint: kept })).toMatchObject({ ok: false });
      });
    });
  });
}
