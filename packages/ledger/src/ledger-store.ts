import { ADVISORY_LOCKS, SAVEPOINT_NAMES, beginSnapshot, dialectOf, lockAdvisory, withSavepoint } from '@covenant/db';
import { CompiledQuery, sql, type Kysely, type KyselyPlugin } from 'kysely';
import { createBundle, type InclusionBundle } from './bundle.ts';
import { parseCheckpoint, verifyCheckpoint, type Checkpoint, type CheckpointSigner } from './checkpoint.ts';
import {
  MAX_ENTRY_BYTES,
  assertEntryInstant,
  decodeEntry,
  prepareEntry,
  preparedEntryLength,
  writePreparedEntry,
  type LedgerEntry,
  type LedgerEntryKind,
  type NewEntry,
  type PreparedEntry,
} from './entry.ts';
import { LogError } from './errors.ts';
import { appendToFrontier, frontierRoot } from './frontier.ts';
import { HASH_SIZE, sha256Into } from './merkle-hash.ts';
import { createMerkleTreeInternals } from './merkle-tree.ts';
import { openStorageGuard } from './storage-guard.ts';
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
  /**
   * How long one `transact` unit of work may hold the batch (default 5,000 ms). Units run one after
   * another inside the batch's transaction, so a unit that awaits something slow holds every writer: when
   * it overruns, it is failed (rolled back, its database handle revoked) and the batch goes on.
   */
  readonly workTimeoutMs?: number;
  /**
   * Development and tests only: on PostgreSQL, serve through a role that could change the ledger tables
   * (an owner, a superuser). By default a writable store refuses one (`PrivilegedRoleError`,
   * `ERR_DB_ROLE_PRIVILEGED`): its own connection could disable the triggers and delete entries (ADR 0013).
   * The schema check runs either way.
   */
  readonly unsafeAllowPrivilegedRole?: boolean;
}

/**
 * What a unit of work sees inside the store's batch transaction (see `LedgerStore.transact`).
 * Valid only until the unit's promise settles; afterwards every use throws.
 */
export interface LedgerTransaction {
  /** The batch's connection, inside its transaction (and inside this unit's savepoint). */
  readonly db: Kysely<any>;
  /**
   * The batch transaction this unit runs in, as an identity: the same object for every unit of one batch,
   * another for the next. Lets a caller do something once per batch (the audit port's fencing check).
   */
  readonly batch: object;
  /** Appends entries in this transaction and returns their sequence numbers; they commit with the batch. */
  append(entries: ReadonlyArray<NewEntry>): ReadonlyArray<number>;
  /**
   * Runs `work` in a nested savepoint: if it throws, its writes and the entries it appended are undone,
   * and the error is rethrown (the unit can then record what happened instead).
   */
  savepoint<T>(work: () => Promise<T>): Promise<T>;
}

/** A unit of work overran `workTimeoutMs`. */
export class LedgerWorkTimeoutError extends Error {
  constructor(readonly timeoutMs: number) {
    super(`a ledger unit of work held the batch for more than ${timeoutMs} ms and was rolled back`);
    this.name = 'LedgerWorkTimeoutError';
  }
}

/** The latest signed checkpoint the store knows. */
export interface SignedCheckpoint {
  readonly checkpoint: Checkpoint;
  /** The C2SP signed note. */
  readonly note: string;
}

/**
 * The ledger on one database. Several stores (in several processes) may share one SQLite file or one
 * PostgreSQL database: every write takes the writer lock first and reads the size inside it, so sequence
 * numbers stay gap-free.
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
  /**
   * Runs `work` inside the next batch's transaction, in its own savepoint, and resolves with its result
   * after the batch has committed (durable, with a signed checkpoint covering what it appended). Units of
   * one batch run one after another. If `work` throws (or overruns `workTimeoutMs`), its writes and
   * entries are rolled back and the promise rejects with that error once the rest of the batch has
   * committed; if the batch cannot commit, every unit and append of it rejects and nothing is stored.
   */
  transact<T>(work: (tx: LedgerTransaction) => Promise<T>): Promise<T>;
  /**
   * The running unit of work whose `db` is `db`, or `null`: lets code handed only a database handle (an
   * RBAC store bound to `ctx.db`) append its own entries to the same transaction.
   */
  transactionOf(db: unknown): LedgerTransaction | null;
  /**
   * Intents without an outcome (by request id), oldest first: after a crash, the calls that may have been
   * cut off. Read from the stored log, so it sees every process's entries.
   */
  openIntents(): Promise<ReadonlyArray<LedgerEntry>>;
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
  /** Resolves once every append and unit of work queued so far has settled (committed or failed). */
  flush(): Promise<void>;
  /** Waits for pending appends, then refuses further use. The database stays open. */
  close(): Promise<void>;
}

/** A queued job: entries to append (validated and encoded at the call), or a unit of work to run inside the batch. */
type Pending =
  | {
      readonly type: 'append';
      readonly entries: ReadonlyArray<PreparedEntry>;
      readonly resolve: (seqs: ReadonlyArray<number>) => void;
      readonly reject: (error: unknown) => void;
    }
  | {
      readonly type: 'work';
      readonly work: (tx: LedgerTransaction) => Promise<unknown>;
      readonly resolve: (value: unknown) => void;
      readonly reject: (error: unknown) => void;
    };

/** An entry sequenced into a batch: its row, but for the batch-wide `at`. */
interface BatchRow {
  readonly seq: number;
  readonly body: Uint8Array;
  readonly leaf: Uint8Array;
  readonly kind: LedgerEntryKind;
  readonly requestId: string | null;
}

/** The entries a batch has sequenced so far; rolled back to a mark when a unit of work fails. */
interface BatchBuffer {
  rows: BatchRow[];
  /** The frontier after the last row (changed in place). */
  frontier: Uint8Array[];
  /** The interior nodes the rows completed, in order: the tree takes them after the commit instead of rehashing. */
  parents: Uint8Array[];
}

/**
 * Most rows per INSERT statement (6 parameters each: far below SQLite's 32,766 and PostgreSQL's 65,535). The
 * statement is precompiled SQL text (see insertEntries), not a kysely builder: building and compiling a
 * 3,000-value query tree per chunk cost more than the statement itself.
 */
const INSERT_CHUNK = 512;
/** Rows per SELECT when loading leaf hashes. */
const PAGE = 50_000;

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
  const { db, origin, signer, clock = systemClock, workTimeoutMs = 5_000, unsafeAllowPrivilegedRole = false } = options ?? ({} as LedgerStoreOptions);
  if (db === null || typeof db !== 'object' || typeof db.connection !== 'function') throw new TypeError('createLedgerStore: "db" must be a kysely instance');
  if (typeof origin !== 'string' || origin === '') throw new TypeError('createLedgerStore: "origin" is required');
  if (signer !== undefined && (typeof signer?.sign !== 'function' || !(signer.publicKey instanceof Uint8Array))) {
    throw new TypeError('createLedgerStore: "signer" must be a CheckpointSigner');
  }
  if (typeof clock?.now !== 'function') throw new TypeError('createLedgerStore: "clock" must have now()');
  if (!Number.isSafeInteger(workTimeoutMs) || workTimeoutMs <= 0) throw new TypeError('createLedgerStore: "workTimeoutMs" must be a positive integer');
  if (typeof unsafeAllowPrivilegedRole !== 'boolean') throw new TypeError('createLedgerStore: "unsafeAllowPrivilegedRole" must be a boolean');
  const postgres = dialectOf(db) === 'postgres';

  /** Only ever holds committed leaves; a batch's root is computed on a copy of its frontier before the commit. */
  const internals = createMerkleTreeInternals();
  const tree = internals.tree;
  let latest: SignedCheckpoint | null = null;
  let queue: Pending[] = [];
  let running: Promise<void> | null = null;
  let closed = false;
  let units = 0;
  /** Units of work running now, by their database handle (see `transactionOf`). */
  const active = new WeakMap<object, LedgerTransaction>();

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

  /** One consistent snapshot (entries and the latest checkpoint read together) of what other writers appended. */
  const refresh = (): Promise<void> =>
    db.connection().execute(async (conn) => {
      await beginSnapshot(conn);
      try {
        await catchUp(conn as Kysely<LedgerTables>);
      } finally {
        await sql`commit`.execute(conn);
      }
    });

  const flush = async (batch: Pending[]): Promise<void> => {
    /** What each job settles with once the batch has committed. */
    const settled: Array<{ ok: true; value: unknown } | { ok: false; error: unknown }> = [];
    try {
      await db.connection().execute(async (conn) => {
        const tx = conn as Kysely<LedgerTables>;
        await (postgres ? sql`begin` : sql`begin immediate`).execute(tx);
        try {
          // The writer lock, held until commit: SQLite's immediate transaction; on PostgreSQL the advisory
          // lock ADVISORY_LOCKS.ledgerWriter, taken first. Read committed there, so every read after it
          // sees what the previous writer committed.
          if (postgres) await lockAdvisory(tx, ADVISORY_LOCKS.ledgerWriter);
          // Inside the write lock: nobody else can append until we commit.
          await catchUp(tx);
          const start = tree.size;
          const at = clock.now().toISOString();
          const buffer: BatchBuffer = { rows: [], frontier: internals.frontier(), parents: [] };
          const batchIdentity = Object.freeze({});
          /** `"<at>"` in ASCII, written into every entry of the batch (checked by the first `sequence`). */
          let atQuoted: Uint8Array | null = null;
          /** Sequences entries into the batch: all of them, or (one that cannot be encoded throws) none. */
          const sequence = (entries: ReadonlyArray<PreparedEntry>): ReadonlyArray<number> => {
            if (atQuoted === null) {
              assertEntryInstant(at);
              atQuoted = Buffer.from(`"${at}"`, 'latin1');
            }
            const first = start + buffer.rows.length;
            // Sized first, so that an entry too large at its seq fails before any of them is sequenced.
            let total = 0;
            for (let i = 0; i < entries.length; i += 1) {
              const length = preparedEntryLength(entries[i]!, first + i);
              if (length > MAX_ENTRY_BYTES) throw new TypeError(`entry: the encoding exceeds ${MAX_ENTRY_BYTES} bytes`);
              total += 1 + length;
            }
            // One buffer for this call (from Node's pool when small): each entry as 0x00 ‖ body — the leaf hash
            // input, and the stored bytes are a view of it — then the leaf hashes. Every byte is written below
            // before it is read.
            const slab = Buffer.allocUnsafe(total + entries.length * HASH_SIZE);
            const seqs: number[] = [];
            const before = { rows: buffer.rows.length, parents: buffer.parents.length, frontier: buffer.frontier.slice() };
            try {
              let offset = 0;
              let leafOffset = total;
              for (let i = 0; i < entries.length; i += 1) {
                const seq = first + i;
                const entry = entries[i]!;
                slab[offset] = 0x00;
                const bodyEnd = writePreparedEntry(entry, seq, atQuoted, slab, offset + 1);
                // The sizes above and the bytes written must agree exactly: no byte of the buffer goes unwritten.
                if (bodyEnd !== offset + 1 + preparedEntryLength(entry, seq)) throw new Error('ledger store: an entry encoded to an unexpected length');
                sha256Into(slab.subarray(offset, bodyEnd), slab, leafOffset);
                const leaf = slab.subarray(leafOffset, leafOffset + HASH_SIZE);
                appendToFrontier(buffer.frontier, seq, leaf, buffer.parents);
                buffer.rows.push({ seq, body: slab.subarray(offset + 1, bodyEnd), leaf, kind: entry.kind, requestId: entry.requestId });
                seqs.push(seq);
                offset = bodyEnd;
                leafOffset += HASH_SIZE;
              }
            } catch (error) {
              // All or none, even for a failure that cannot happen: a unit may catch it and go on.
              buffer.rows.length = before.rows;
              buffer.parents.length = before.parents;
              buffer.frontier = before.frontier;
              throw error;
            }
            return Object.freeze(seqs);
          };
          for (const pending of batch) {
            if (pending.type === 'append') settled.push({ ok: true, value: sequence(pending.entries) });
            else settled.push(await runUnit(tx, batchIdentity, buffer, sequence, pending.work));
          }
          await insertEntries(tx, postgres, buffer.rows, at);
          // After every unit of work ran, before signing: the tables and their triggers are still ours.
          await storage?.check(tx);
          const size = start + buffer.rows.length;
          const checkpoint = Object.freeze({ origin, size, root: frontierRoot(buffer.frontier) });
          // A batch of failed units only may have appended nothing: no empty checkpoint then.
          const note = size > start ? signer!.sign(checkpoint) : null;
          if (note !== null) await tx.insertInto('ledger_checkpoints').values({ size, root: checkpoint.root, note, at }).execute();
          await sql`commit`.execute(tx);
          // Committed: only now does the in-memory state move.
          internals.appendComputed(
            buffer.rows.map((row) => row.leaf),
            buffer.parents,
          );
          if (note !== null) latest = Object.freeze({ checkpoint, note });
        } catch (error) {
          await sql`rollback`.execute(tx).catch(() => undefined);
          throw error;
        }
      });
    } catch (error) {
      for (const pending of batch) pending.reject(error);
      return;
    }
    batch.forEach((pending, i) => {
      const outcome = settled[i]!;
      if (!outcome.ok) pending.reject(outcome.error);
      else if (pending.type === 'append') pending.resolve(outcome.value as ReadonlyArray<number>);
      else pending.resolve(outcome.value);
    });
  };

  /**
   * One unit of work in its own savepoint, under the time bound. A unit that fails is rolled back (its
   * rows and its entries) and reported; only a failure of the rollback itself fails the whole batch.
   */
  const runUnit = async (
    conn: Kysely<LedgerTables>,
    batch: object,
    buffer: BatchBuffer,
    sequence: (entries: ReadonlyArray<PreparedEntry>) => ReadonlyArray<number>,
    work: (tx: LedgerTransaction) => Promise<unknown>,
  ): Promise<{ ok: true; value: unknown } | { ok: false; error: unknown }> => {
    const gate = createGate();
    const handle = conn.withPlugin(gate.plugin);
    const release = (): void => {
      gate.close();
      active.delete(handle);
    };
    const mark = (): (() => void) => {
      const rows = buffer.rows.length;
      const parents = buffer.parents.length;
      const front = buffer.frontier.slice();
      return () => {
        buffer.rows.length = rows;
        buffer.parents.length = parents;
        buffer.frontier = front.slice();
      };
    };
    const unit: LedgerTransaction = Object.freeze({
      db: handle,
      batch,
      append(entries: ReadonlyArray<NewEntry>): ReadonlyArray<number> {
        gate.assertOpen();
        if (!Array.isArray(entries)) throw new TypeError('append: entries must be an array');
        // Validated and encoded now (the same TypeErrors as encodeEntry): read once, so later changes to
        // the caller's objects change nothing.
        const prepared: PreparedEntry[] = [];
        for (let i = 0; i < entries.length; i += 1) prepared.push(prepareEntry(entries[i]));
        return sequence(prepared);
      },
      async savepoint<T>(inner: () => Promise<T>): Promise<T> {
        gate.assertOpen();
        const undo = mark();
        try {
          return await withSavepoint(handle, inner);
        } catch (error) {
          // A revoked unit (it overran) may settle late, after later units appended to the batch: its
          // entries were already dropped when it was failed, and the buffer is no longer its to touch.
          if (gate.isOpen()) undo();
          throw error;
        }
      },
    });
    active.set(handle, unit);
    const undo = mark();
    // Names from a small rotating set (see SAVEPOINT_NAMES in @covenant/db): units run one after another,
    // so neighbouring names differ, and the statements' text repeats, so SQLite prepares them once.
    units = (units + 1) % SAVEPOINT_NAMES;
    const name = sql.id(`covenant_unit_${units}`);
    await sql`savepoint ${name}`.execute(conn);
    let timer: NodeJS.Timeout | undefined;
    try {
      const value = await Promise.race([
        work(unit),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => {
            // Revoke first: the overrunning unit may still be running, and nothing it does later may land.
            release();
            reject(new LedgerWorkTimeoutError(workTimeoutMs));
          }, workTimeoutMs);
        }),
      ]);
      release();
      await sql`release savepoint ${name}`.execute(conn);
      return { ok: true, value };
    } catch (error) {
      release();
      undo();
      // If these fail, the batch's state is unknown: the error escapes and the whole batch rolls back.
      await sql`rollback to savepoint ${name}`.execute(conn);
      await sql`release savepoint ${name}`.execute(conn);
      return { ok: false, error };
    } finally {
      clearTimeout(timer);
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

  const storage = await openStorageGuard(db, { writable: signer !== undefined, allowPrivilegedRole: unsafeAllowPrivilegedRole });
  await refresh();

  return Object.freeze({
    append(entries: ReadonlyArray<NewEntry>): Promise<ReadonlyArray<number>> {
      let prepared: PreparedEntry[];
      try {
        assertOpen();
        if (signer === undefined) throw new LogError('ERR_LEDGER_LOG_READ_ONLY', 'the ledger store was opened without a signer');
        if (!Array.isArray(entries)) throw new TypeError('append: entries must be an array');
        // Validated, size-checked and encoded (but for seq and at) now: a bad entry must not fail the batch
        // it would join, and the encoding is a snapshot, so a caller mutating its objects before the flush
        // cannot change (or break) the batch.
        prepared = [];
        for (let i = 0; i < entries.length; i += 1) {
          try {
            prepared.push(prepareEntry(entries[i]));
          } catch (error) {
            throw new TypeError(`append: entries[${i}]: ${(error as Error).message}`);
          }
        }
      } catch (error) {
        return Promise.reject(error);
      }
      if (prepared.length === 0) return Promise.resolve(Object.freeze([]));
      const ready = prepared;
      return new Promise((resolve, reject) => {
        queue.push({ type: 'append', entries: ready, resolve, reject });
        running ??= drain();
      });
    },
    transact<T>(work: (tx: LedgerTransaction) => Promise<T>): Promise<T> {
      try {
        assertOpen();
        if (signer === undefined) throw new LogError('ERR_LEDGER_LOG_READ_ONLY', 'the ledger store was opened without a signer');
        if (typeof work !== 'function') throw new TypeError('transact: work must be a function');
      } catch (error) {
        return Promise.reject(error);
      }
      return new Promise<T>((resolve, reject) => {
        queue.push({ type: 'work', work, resolve: resolve as (value: unknown) => void, reject });
        running ??= drain();
      });
    },
    transactionOf(handle: unknown): LedgerTransaction | null {
      return handle !== null && typeof handle === 'object' ? (active.get(handle) ?? null) : null;
    },
    async openIntents(): Promise<ReadonlyArray<LedgerEntry>> {
      assertOpen();
      const rows = await db
        .selectFrom('ledger_entries as i')
        .select(['i.body'])
        .where('i.kind', '=', 'intent')
        .where(({ not, exists, selectFrom }) =>
          not(
            exists(
              selectFrom('ledger_entries as o')
                .select('o.seq')
                .where('o.kind', '=', 'outcome')
                .whereRef('o.request_id', '=', 'i.request_id'),
            ),
          ),
        )
        .orderBy('i.seq')
        .execute();
      return Object.freeze(rows.map((row) => decodeEntry(new Uint8Array(row.body))));
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
    async flush(): Promise<void> {
      while (running !== null) await running;
    },
    async close(): Promise<void> {
      if (closed) return;
      while (running !== null) await running;
      closed = true;
    },
  });
}

/**
 * `insert into ledger_entries (…) values (…), …` for `rows` rows, in the dialect's placeholders. Only powers
 * of two up to INSERT_CHUNK are asked for, so there are at most 10 texts per dialect: a database handle that
 * caches prepared statements by their text (@covenant/db on SQLite) then prepares each once, and batches of
 * every size do not crowd the application's statements out of that cache.
 */
const insertStatements = new Map<string, string>();

function insertStatement(rows: number, postgres: boolean): string {
  const key = `${postgres ? 'pg' : 'sqlite'}:${rows}`;
  let statement = insertStatements.get(key);
  if (statement === undefined) {
    const tuples: string[] = [];
    for (let row = 0; row < rows; row += 1) {
      const base = row * 6;
      tuples.push(
        postgres ? `($${base + 1}, $${base + 2}, $${base + 3}, $${base + 4}, $${base + 5}, $${base + 6})` : '(?, ?, ?, ?, ?, ?)',
      );
    }
    statement = `insert into "ledger_entries" ("seq", "body", "leaf_hash", "kind", "request_id", "at") values ${tuples.join(', ')}`;
    insertStatements.set(key, statement);
  }
  return statement;
}

/**
 * Inserts a batch's rows, in order, in multi-row INSERTs: chunks of INSERT_CHUNK rows, then the remainder in
 * chunks of decreasing powers of two (1,000 rows: 512, 256, 128, 64, 32, 8). The same columns and values, row
 * for row, as kysely's `insertInto('ledger_entries').values(rows)` (tested: byte-identical rows), without
 * building a query tree per chunk. The append-only triggers run per row as before.
 */
async function insertEntries(conn: Kysely<any>, postgres: boolean, rows: ReadonlyArray<BatchRow>, at: string): Promise<void> {
  for (let from = 0, count = 0; from < rows.length; from += count) {
    count = INSERT_CHUNK;
    while (count > rows.length - from) count /= 2;
    const parameters: unknown[] = new Array(count * 6);
    for (let i = 0; i < count; i += 1) {
      const row = rows[from + i]!;
      const base = i * 6;
      parameters[base] = row.seq;
      parameters[base + 1] = row.body;
      parameters[base + 2] = row.leaf;
      parameters[base + 3] = row.kind;
      parameters[base + 4] = row.requestId;
      parameters[base + 5] = at;
    }
    await conn.executeQuery(CompiledQuery.raw(insertStatement(count, postgres), parameters));
  }
}

/**
 * A revocable view of a connection: once closed, every query through it throws before it reaches the
 * database. A unit of work keeps its handle after it settles (or overruns); this makes any late write fail
 * instead of landing in a later unit's transaction.
 */
function createGate(): { plugin: KyselyPlugin; assertOpen(): void; isOpen(): boolean; close(): void } {
  let open = true;
  const assertOpen = (): void => {
    if (!open) throw new LogError('ERR_LEDGER_LOG_CLOSED', 'this ledger transaction has ended; its database handle is revoked');
  };
  return {
    plugin: {
      transformQuery(args) {
        assertOpen();
        return args.node;
      },
      async transformResult(args) {
        return args.result;
      },
    },
    assertOpen,
    isOpen: () => open,
    close: () => {
      open = false;
    },
  };
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
