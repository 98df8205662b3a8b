import { sql, type Kysely } from 'kysely';
import { createBundle, type InclusionBundle } from './bundle.ts';
import { parseCheckpoint, verifyCheckpoint, type Checkpoint, type CheckpointSigner } from './checkpoint.ts';
import { decodeEntry, encodeEntry, type LedgerEntry, type NewEntry } from './entry.ts';
import { LogError } from './errors.ts';
import { frontierRoot, pushFrontier } from './frontier.ts';
import { leafHash } from './merkle-hash.ts';
import { createMerkleTree } from './merkle-tree.ts';
import { bytesEqual } from './verify.ts';

/** The tables of migration 0002-ledger (@covenant/db), as kysely sees them. */
export interface LedgerTables {
  ledger_entries: {
    seq: number;
    body: Uint8Array;
    leaf_hash: Uint8Array;
    kind: string;
    request_id: string | null;
    at: string;
  };
  ledger_checkpoints: {
    size: number;
    root: Uint8Array;
    note: string;
    at: string;
  };
}

/** Injected time (house style: no hidden `Date.now()`), so tests can fix the `at` of entries. */
export interface LedgerClock {
  now(): Date;
}

export interface LedgerStoreOptions {
  /** A kysely instance on a database migrated to 0002-ledger. The store does not close it. */
  readonly db: Kysely<any>;
  /** The log identity written into every checkpoint, e.g. `audit.example/prod`. */
  readonly origin: string;
  /** Signs one checkpoint per committed batch. Without it the store is read-only (proofs, checkpoints). */
  readonly signer?: CheckpointSigner;
  readonly clock?: LedgerClock;
}

/** The latest signed checkpoint the store knows. */
export interface SignedCheckpoint {
  readonly checkpoint: Checkpoint;
  /** The C2SP signed note. */
  readonly note: string;
}

/**
 * The ledger on one database. Several stores (in several processes) may share one SQLite file: every
 * write takes the write lock first and reads the size inside it, so sequence numbers stay gap-free.
 */
export interface LedgerStore {
  /**
   * Appends entries durably and returns their sequence numbers, in order. Appends requested while a write
   * is running (or in the same tick) are committed together: one transaction, one fsync, one signed
   * checkpoint per batch. It resolves only after the commit. If the batch's write fails, every caller of
   * that batch is rejected and nothing of it is stored; later appends are unaffected. Invalid entries
   * reject with `TypeError` without touching the batch.
   */
  append(entries: ReadonlyArray<NewEntry>): Promise<ReadonlyArray<number>>;
  /** The number of entries (including those other processes appended). */
  size(): Promise<number>;
  /** The latest checkpoint, or `null` for an empty log. */
  latestCheckpoint(): Promise<SignedCheckpoint | null>;
  /** An offline inclusion bundle for entry `seq` against the latest checkpoint. */
  inclusionBundle(seq: number): Promise<InclusionBundle>;
  /** The stored entry `seq`: its canonical bytes (which hash to its leaf) and decoded form. */
  readEntry(seq: number): Promise<{ readonly bytes: Uint8Array; readonly entry: LedgerEntry }>;
  /** PROOF(size1, D[0:size2]) (RFC 9162 §2.1.4.1), for two checkpointed sizes 0 < size1 ≤ size2 ≤ size. */
  consistencyProof(size1: number, size2: number): Promise<Uint8Array[]>;
  /** Waits for pending appends, then refuses further use. The database stays open. */
  close(): Promise<void>;
}

interface Pending {
  readonly entries: ReadonlyArray<NewEntry>;
  readonly resolve: (seqs: ReadonlyArray<number>) => void;
  readonly reject: (error: unknown) => void;
}

/** Rows per INSERT statement (6 columns; far below SQLite's variable limit). */
const INSERT_CHUNK = 1000;
/** Rows per SELECT when loading leaf hashes. */
const PAGE = 50_000;

const PROBE_AT = new Date(0).toISOString();
const systemClock: LedgerClock = { now: () => new Date() };

/**
 * Opens the ledger stored in `db`: loads every leaf hash into an in-memory RFC 9162 tree and checks that
 * the latest checkpoint's root (and, with a signer, its signature) matches it; a log that does not match
 * is refused (`LogError`). This is a fast consistency check at start-up, not an audit: `verifyLedger`
 * recomputes every leaf from the stored entries.
 *
 * @example
 * ```ts
 * const ledger = await createLedgerStore({ db, origin: 'audit.example/prod', signer });
 * const [seq] = await ledger.append([{ kind: 'intent', action: 'orders.place', actor, tenant,
 *   resource: null, requestId, outcome: null, inputDigest, data: null }]);
 * const bundle = await ledger.inclusionBundle(seq!); // verifyBundle(bundle, { name, publicKey })
 * ```
 */
export async function createLedgerStore(options: LedgerStoreOptions): Promise<LedgerStore> {
  const { db, origin, signer, clock = systemClock } = options ?? ({} as LedgerStoreOptions);
  if (db === null || typeof db !== 'object' || typeof db.connection !== 'function') throw new TypeError('createLedgerStore: "db" must be a kysely instance');
  if (typeof origin !== 'string' || origin === '') throw new TypeError('createLedgerStore: "origin" is required');
  if (signer !== undefined && (typeof signer?.sign !== 'function' || !(signer.publicKey instanceof Uint8Array))) {
    throw new TypeError('createLedgerStore: "signer" must be a CheckpointSigner');
  }
  if (typeof clock?.now !== 'function') throw new TypeError('createLedgerStore: "clock" must have now()');

  const tree = createMerkleTree();
  /** Roots of the perfect subtrees of D[0:tree.size], largest first: lets a batch's root be computed before
   * it commits without touching `tree`, which only ever holds committed leaves. */
  let frontier: Uint8Array[] = [];
  let latest: SignedCheckpoint | null = null;
  let queue: Pending[] = [];
  let running: Promise<void> | null = null;
  let closed = false;

  /** Loads leaf hashes other writers committed, and the latest checkpoint; `conn` is inside a transaction. */
  const catchUp = async (conn: Kysely<LedgerTables>): Promise<void> => {
    for (;;) {
      const rows = await conn
        .selectFrom('ledger_entries')
        .select(['seq', 'leaf_hash'])
        .where('seq', '>=', tree.size)
        .orderBy('seq')
        .limit(PAGE)
        .execute();
      for (const row of rows) {
        if (row.seq !== tree.size) throw new LogError('ERR_LEDGER_LOG_SEQ_MISMATCH', `entry ${tree.size} is missing`);
        if (!(row.leaf_hash instanceof Uint8Array) || row.leaf_hash.length !== 32) {
          throw new LogError('ERR_LEDGER_LOG_LEAF_MISMATCH', `entry ${row.seq} has no 32-byte leaf hash`);
        }
        tree.append(row.leaf_hash);
        frontier = pushFrontier(frontier, tree.size - 1, row.leaf_hash);
      }
      if (rows.length < PAGE) break;
    }
    const row = await conn.selectFrom('ledger_checkpoints').select(['size', 'note']).orderBy('size', 'desc').limit(1).executeTakeFirst();
    if (row === undefined) {
      if (tree.size > 0) throw new LogError('ERR_LEDGER_LOG_UNSEALED', `entries 0..${tree.size - 1} are not covered by a checkpoint`);
      latest = null;
      return;
    }
    if (latest !== null && latest.checkpoint.size === row.size) return;
    if (row.size !== tree.size) {
      throw row.size > tree.size
        ? new LogError('ERR_LEDGER_LOG_TRUNCATED', `the latest checkpoint covers ${row.size} entries but the log holds ${tree.size}`)
        : new LogError('ERR_LEDGER_LOG_UNSEALED', `entries ${row.size}..${tree.size - 1} are not covered by a checkpoint`);
    }
    const checkpoint = signer !== undefined ? verifyOwn(row.note, signer, origin) : parseUnverified(row.note, origin);
    if (checkpoint.size !== row.size) throw new LogError('ERR_LEDGER_LOG_CHECKPOINT_ORDER', `checkpoint ${row.size} signs size ${checkpoint.size}`);
    if (!bytesEqual(checkpoint.root, tree.root())) {
      throw new LogError('ERR_LEDGER_LOG_ROOT_MISMATCH', `the stored leaf hashes do not have the root of checkpoint ${row.size}`);
    }
    latest = Object.freeze({ checkpoint, note: row.note });
  };

  /** A consistent snapshot (WAL readers see one committed state) of what other writers appended. */
  const refresh = (): Promise<void> =>
    db.connection().execute(async (conn) => {
      await sql`begin`.execute(conn);
      try {
        await catchUp(conn as Kysely<LedgerTables>);
      } finally {
        await sql`commit`.execute(conn);
      }
    });

  const flush = async (batch: Pending[]): Promise<void> => {
    const total = batch.reduce((sum, pending) => sum + pending.entries.length, 0);
    try {
      const seqs = await db.connection().execute(async (conn) => {
        const tx = conn as Kysely<LedgerTables>;
        await sql`begin immediate`.execute(tx);
        try {
          // Inside the write lock: nobody else can append until we commit.
          await catchUp(tx);
          const start = tree.size;
          const at = clock.now().toISOString();
          const rows: LedgerTables['ledger_entries'][] = [];
          const leaves: Uint8Array[] = [];
          let next = frontier;
          for (const pending of batch) {
            for (const entry of pending.entries) {
              const seq = start + rows.length;
              const body = encodeEntry({ v: 1, seq, at, ...entry });
              const leaf = leafHash(body);
              leaves.push(leaf);
              next = pushFrontier(next, seq, leaf);
              rows.push({ seq, body, leaf_hash: leaf, kind: entry.kind, request_id: entry.requestId, at });
            }
          }
          for (let i = 0; i < rows.length; i += INSERT_CHUNK) {
            await tx.insertInto('ledger_entries').values(rows.slice(i, i + INSERT_CHUNK)).execute();
          }
          const checkpoint = Object.freeze({ origin, size: start + total, root: frontierRoot(next) });
          const note = signer!.sign(checkpoint);
          await tx.insertInto('ledger_checkpoints').values({ size: checkpoint.size, root: checkpoint.root, note, at }).execute();
          await sql`commit`.execute(tx);
          // Committed: only now does the in-memory state move.
          for (const leaf of leaves) tree.append(leaf);
          frontier = next;
          latest = Object.freeze({ checkpoint, note });
          return start;
        } catch (error) {
          await sql`rollback`.execute(tx).catch(() => undefined);
          throw error;
        }
      });
      let offset = seqs;
      for (const pending of batch) {
        const assigned = Object.freeze(pending.entries.map((_, i) => offset + i));
        offset += pending.entries.length;
        pending.resolve(assigned);
      }
    } catch (error) {
      for (const pending of batch) pending.reject(error);
    }
  };

  const drain = async (): Promise<void> => {
    // Yield once so that appends of the same tick join the first batch.
    await new Promise<void>((resolve) => setImmediate(resolve));
    while (queue.length > 0) {
      const batch = queue;
      queue = [];
      await flush(batch);
    }
    running = null;
  };

  const assertOpen = (): void => {
    if (closed) throw new LogError('ERR_LEDGER_LOG_CLOSED', 'the ledger store is closed');
  };

  await refresh();

  return Object.freeze({
    append(entries: ReadonlyArray<NewEntry>): Promise<ReadonlyArray<number>> {
      try {
        assertOpen();
        if (signer === undefined) throw new LogError('ERR_LEDGER_LOG_READ_ONLY', 'the ledger store was opened without a signer');
        if (!Array.isArray(entries)) throw new TypeError('append: entries must be an array');
        entries.forEach((entry, i) => {
          try {
            // Validates, and checks the size limit, now: a bad entry must not fail the batch it would join.
            encodeEntry({ v: 1, seq: 0, at: PROBE_AT, ...entry });
          } catch (error) {
            throw new TypeError(`append: entries[${i}]: ${(error as Error).message}`);
          }
        });
      } catch (error) {
        return Promise.reject(error);
      }
      if (entries.length === 0) return Promise.resolve(Object.freeze([]));
      // A deep copy: a caller mutating its objects before the flush must not change (or break) the batch.
      const copy = Object.freeze(entries.map((entry) => structuredClone(entry)));
      return new Promise((resolve, reject) => {
        queue.push({ entries: copy, resolve, reject });
        running ??= drain();
      });
    },
    async size(): Promise<number> {
      assertOpen();
      await refresh();
      return tree.size;
    },
    async latestCheckpoint(): Promise<SignedCheckpoint | null> {
      assertOpen();
      await refresh();
      return latest;
    },
    async inclusionBundle(seq: number): Promise<InclusionBundle> {
      assertOpen();
      if (!Number.isSafeInteger(seq) || seq < 0) throw new TypeError('inclusionBundle: seq must be a non-negative safe integer');
      await refresh();
      const current = latest;
      if (current === null || seq >= current.checkpoint.size) throw new RangeError(`inclusionBundle: entry ${seq} is not in the log`);
      const treeSize = current.checkpoint.size;
      return createBundle({
        origin,
        leafIndex: seq,
        treeSize,
        leafHash: tree.leafHash(seq),
        proof: tree.inclusionProof(seq, treeSize),
        checkpoint: current.note,
      });
    },
    async readEntry(seq: number) {
      assertOpen();
      if (!Number.isSafeInteger(seq) || seq < 0) throw new TypeError('readEntry: seq must be a non-negative safe integer');
      const row = await db.selectFrom('ledger_entries').select(['body']).where('seq', '=', seq).executeTakeFirst();
      if (row === undefined) throw new RangeError(`readEntry: entry ${seq} is not in the log`);
      const bytes = new Uint8Array(row.body);
      return Object.freeze({ bytes, entry: decodeEntry(bytes) });
    },
    async consistencyProof(size1: number, size2: number): Promise<Uint8Array[]> {
      assertOpen();
      await refresh();
      if (!Number.isSafeInteger(size1) || !Number.isSafeInteger(size2) || size1 < 1 || size1 > size2 || size2 > tree.size) {
        throw new RangeError(`consistencyProof: need 0 < size1 ≤ size2 ≤ ${tree.size}`);
      }
      return tree.consistencyProof(size1, size2);
    },
    async close(): Promise<void> {
      if (closed) return;
      while (running !== null) await running;
      closed = true;
    },
  });
}

/** Opens our own latest checkpoint with our own key: a mismatch means the file was changed under us. */
function verifyOwn(note: string, signer: CheckpointSigner, origin: string): Checkpoint {
  const result = verifyCheckpoint(note, { name: signer.name, publicKey: signer.publicKey, origin });
  if (!result.ok) throw new LogError('ERR_LEDGER_LOG_ROOT_MISMATCH', `the latest checkpoint does not verify with the store's key (${result.code})`);
  return result.checkpoint;
}

/** Without a key (a read-only store) only the text is parsed; the proofs it serves are verified by their reader. */
function parseUnverified(note: string, origin: string): Checkpoint {
  const end = note.indexOf('\n\n');
  const parsed = parseCheckpoint(end < 0 ? '' : note.slice(0, end + 1));
  if (!parsed.ok || parsed.checkpoint.origin !== origin) {
    throw new LogError('ERR_LEDGER_LOG_ROOT_MISMATCH', 'the latest checkpoint is not a checkpoint of this origin');
  }
  return parsed.checkpoint;
}
