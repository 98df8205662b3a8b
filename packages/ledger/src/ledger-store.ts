import { ADVISORY_LOCKS, SAVEPOINT_NAMES, beginSnapshot, dialectOf, lockAdvisory, withSavepoint } from '@covenant/db';
import { isClock, systemClock, type Clock } from '@covenant/core';
import { CompiledQuery, sql, type Kysely } from 'kysely';
import { createBundle, type InclusionBundle } from './bundle.ts';
import { parseCheckpoint, verifyCheckpointWith, type Checkpoint, type CheckpointSigner, type CheckpointVerifierKey } from './checkpoint.ts';
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
import { openLedgerState } from './ledger-state.ts';
import { HASH_SIZE, leafHash, sha256Into } from './merkle-hash.ts';
import { createMerkleTreeInternals } from './merkle-tree.ts';
import type { NoteVerifierKey, SignatureCheck } from './signed-note.ts';
import { checkStoredEntry } from './stored-entry.ts';
import { strictEd25519Check } from './verify-ledger.ts';
import { openStorageGuard } from './storage-guard.ts';
import { TRANSACTION_LOST, confineToBatch } from './unit-handle.ts';
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


export interface LedgerStoreOptions {
  /** A kysely instance on a database migrated to 0002-ledger. The store does not close it. */
  readonly db: Kysely<any>;
  /** The log identity written into every checkpoint, e.g. `audit.example/prod`. */
  readonly origin: string;
  /** Signs one checkpoint per committed batch. Without it the store is read-only (proofs, checkpoints). */
  readonly signer?: CheckpointSigner;
  /**
   * A read-only store's key (the log's key name and public key): with it, the store verifies the checkpoints
   * it reads as a writer does with its signer's key, and refuses a log whose latest checkpoint does not
   * verify. Without it (and without a signer) a checkpoint is only parsed, and what the store serves must be
   * verified by its reader. Not with `signer`, whose key is used.
   */
  readonly verifierKey?: NoteVerifierKey;
  readonly clock?: Clock;
  /**
   * How long one `transact` unit of work may hold the batch (default 5,000 ms). Units run one after
   * another inside the batch's transaction, so a unit that awaits something slow holds every writer: when
   * it overruns, it is failed (rolled back, its database handle revoked) and the batch goes on.
   */
  readonly workTimeoutMs?: number;
  /**
   * A file outside the database in which the store keeps the highest checkpoint it has signed or verified
   * (its signed note), e.g. beside the key file. Written atomically after every commit that moves it, before
   * any caller of that batch is answered. At open, a log shorter than that checkpoint, or with another root
   * at its size (a truncation at a batch boundary, a restored backup), is refused: the store never signs a
   * size twice. Without the file (first start) the log is trusted as found and its head recorded. Needs a
   * signer. Without this option only the running store holds the log to what it saw (see docs/ledger.md).
   */
  readonly stateFile?: string;
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
  /**
   * Whether an intent with this request id is open — committed (or appended earlier in this batch) and not
   * closed by a later outcome — as the log stands inside this batch's writer lock. Read from the decoded
   * and verified bodies the store caught up with, never from the unhashed columns.
   */
  isOpen(requestId: string): boolean;
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
   * The signed checkpoint batch `batch` (a `LedgerTransaction.batch`) committed with: it covers every entry
   * the batch appended. `null` until the batch has committed, and for a batch that failed or appended
   * nothing. What an audit receipt hands the caller.
   */
  checkpointOf(batch: object): SignedCheckpoint | null;
  /**
   * Intents without a later outcome of the same request id, oldest first: after a crash, the calls that may
   * have been cut off. Decided from the decoded, verified bodies of the whole log (every process's entries),
   * never from the unhashed `kind` and `request_id` columns.
   */
  openIntents(): Promise<ReadonlyArray<LedgerEntry>>;
  /** The number of entries (including those other processes appended). */
  size(): Promise<number>;
  /** The latest checkpoint, or `null` for an empty log. */
  latestCheckpoint(): Promise<SignedCheckpoint | null>;
  /** An offline inclusion bundle for entry `seq` against the latest checkpoint. */
  inclusionBundle(seq: number): Promise<InclusionBundle>;
  /** The stored entry `seq` of the verified log: its canonical bytes (which hash to its leaf) and decoded form. */
  readEntry(seq: number): Promise<{ readonly bytes: Uint8Array; readonly entry: LedgerEntry }>;
  /** PROOF(size1, D[0:size2]) (RFC 9162 §2.1.4.1), for two checkpointed sizes 0 < size1 ≤ size2 ≤ size. */
  consistencyProof(size1: number, size2: number): Promise<Uint8Array[]>;
  /**
   * The log's keyed digest of `text` (`hmac-sha256:<hex>`, the signer's `digest`): how a value is recorded
   * that must not be in the log in the clear (a redacted input, a free-text reason). Needs a signer.
   */
  digest(text: string): string;
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
/** Rows per SELECT when catching up (bodies included: a few MB a page, as verifyLedger reads them). */
const PAGE = 10_000;
/** Sequence numbers per `in (…)` list when reading open intents back. */
const SEQ_CHUNK = 500;


/**
 * Opens the ledger stored in `db`. Nothing stored is trusted: every row is decoded, its leaf hash recomputed
 * from its body (the stored one must match) and its unhashed columns checked against the body, and rows are
 * taken into the in-memory RFC 9162 tree only under a checkpoint whose root is the recomputed one (the
 * latest checkpoint's signature is checked with the signer's key, or the `verifierKey`). A log that does
 * not pass is refused (`LogError`). With `stateFile`, a log shorter than the recorded head, or with another
 * root at its size, is refused too. While it runs, the store checks the same of every row other writers
 * (or anyone else) appended, once per batch, inside the writer lock, before it signs anything.
 *
 * @example
 * ```ts
 * const ledger = await createLedgerStore({ db, origin: 'audit.example/prod', signer, stateFile: 'data/ledger.key.state' });
 * const [seq] = await ledger.append([{ kind: 'intent', action: 'orders.place', actor, tenant,
 *   resource: null, requestId, outcome: null, inputDigest, data: null }]);
 * const bundle = await ledger.inclusionBundle(seq!); // verifyBundle(bundle, { name, publicKey })
 * ```
 */
export async function createLedgerStore(options: LedgerStoreOptions): Promise<LedgerStore> {
  const { db, origin, signer, verifierKey, clock = systemClock, workTimeoutMs = 5_000, stateFile, unsafeAllowPrivilegedRole = false } =
    options ?? ({} as LedgerStoreOptions);
  if (db === null || typeof db !== 'object' || typeof db.connection !== 'function') throw new TypeError('createLedgerStore: "db" must be a kysely instance');
  if (typeof origin !== 'string' || origin === '') throw new TypeError('createLedgerStore: "origin" is required');
  if (signer !== undefined && (typeof signer?.sign !== 'function' || typeof signer.digest !== 'function' || !(signer.publicKey instanceof Uint8Array))) {
    throw new TypeError('createLedgerStore: "signer" must be a CheckpointSigner');
  }
  if (verifierKey !== undefined) {
    if (signer !== undefined) throw new TypeError('createLedgerStore: pass "signer" or "verifierKey", not both (a writer verifies with its signer\'s key)');
    if (typeof verifierKey?.name !== 'string' || verifierKey.name === '' || !(verifierKey.publicKey instanceof Uint8Array) || verifierKey.publicKey.length !== 32) {
      throw new TypeError('createLedgerStore: "verifierKey" must be { name, publicKey } with a 32-byte Ed25519 public key');
    }
  }
  if (!isClock(clock)) throw new TypeError('createLedgerStore: "clock" must be a Clock (an object with a now() method)');
  if (!Number.isSafeInteger(workTimeoutMs) || workTimeoutMs <= 0) throw new TypeError('createLedgerStore: "workTimeoutMs" must be a positive integer');
  if (stateFile !== undefined && (typeof stateFile !== 'string' || stateFile === '')) throw new TypeError('createLedgerStore: "stateFile" must be a file path');
  if (stateFile !== undefined && signer === undefined) throw new TypeError('createLedgerStore: "stateFile" needs a signer (a read-only store records nothing)');
  if (typeof unsafeAllowPrivilegedRole !== 'boolean') throw new TypeError('createLedgerStore: "unsafeAllowPrivilegedRole" must be a boolean');
  const postgres = dialectOf(db) === 'postgres';
  const verifier: NoteVerifierKey | undefined = signer ?? verifierKey;
  const key = verifier === undefined ? null : { name: verifier.name, publicKey: verifier.publicKey, origin };
  const check: SignatureCheck | undefined = verifier === undefined ? undefined : strictEd25519Check(verifier.publicKey);
  const state = stateFile === undefined ? null : openLedgerState(stateFile, key!);

  /**
   * Only ever holds verified, committed leaves: exactly the entries up to `latest` (a batch's root is computed
   * on a copy of its frontier before the commit; caught-up rows join only under a checkpoint that matched).
   */
  const internals = createMerkleTreeInternals();
  const tree = internals.tree;
  let latest: SignedCheckpoint | null = null;
  /** The `at` of the latest entry: a batch is never dated earlier (the clock may go back). */
  let lastAt = '';
  /** Open intents of the verified log, by request id: the seqs of intents no later outcome closed. */
  const open = new Map<string, number[]>();
  /** The checkpoint each committed batch signed, by batch identity (see `checkpointOf`). */
  const sealedBy = new WeakMap<object, SignedCheckpoint>();
  let queue: Pending[] = [];
  let running: Promise<void> | null = null;
  let closed = false;
  /** Set when a committed head could not be recorded in the state file: the store stops (see `assertOpen`). */
  let halted: LogError | null = null;
  let units = 0;
  /** Units of work running now, by their database handle (see `transactionOf`). */
  const active = new WeakMap<object, LedgerTransaction>();
  /**
   * Catch-ups and the in-memory move after a commit run one at a time: a reader's catch-up (PostgreSQL: on
   * a connection of its own) must neither interleave with another nor take a batch's rows between its commit
   * and the moment the tree takes them. Always taken after a connection, never while waiting for one.
   */
  let exclusiveTail: Promise<void> = Promise.resolve();
  const exclusive = <T>(work: () => Promise<T>): Promise<T> => {
    const result = exclusiveTail.then(work);
    exclusiveTail = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  };

  /** Entries that join the open-intent index, in order (an outcome closes the earlier intents of its id). */
  const index = (seq: number, kind: LedgerEntryKind, requestId: string | null): void => {
    if (requestId === null) return;
    if (kind === 'intent') open.set(requestId, [...(open.get(requestId) ?? []), seq]);
    else if (kind === 'outcome') open.delete(requestId);
  };

  /**
   * Catches up with what was committed since `latest`, trusting nothing (`conn` is inside a transaction;
   * run under `exclusive`). Our own latest checkpoint and last entry must still be there, unchanged; every
   * new row is checked against its body (`checkStoredEntry`) and staged on a copy of the frontier; each new
   * checkpoint's root must be the recomputed root of the rows before it, and the last new checkpoint must
   * also verify with our key (without one: the origin and root only). The rows join the tree (and the index,
   * and `latest` moves) only once all of that holds for every row and checkpoint read. Rows that no new
   * checkpoint covers — appended by no writer of this log, which commits its entries with their checkpoint
   * in one transaction — and checkpoints beyond the rows are refused, loudly: nothing is signed over them.
   */
  const catchUp = async (conn: Kysely<LedgerTables>): Promise<void> => {
    const known = latest;
    const stored = await conn
      .selectFrom('ledger_checkpoints')
      .select(['size', 'note'])
      .where('size', '>=', known?.checkpoint.size ?? 0)
      .orderBy('size')
      .execute();
    let fresh = stored;
    if (known !== null) {
      const [first] = stored;
      if (first?.size !== known.checkpoint.size) {
        throw new LogError('ERR_LEDGER_LOG_TRUNCATED', `the checkpoint of size ${known.checkpoint.size} this store verified is gone from the log`);
      }
      if (first.note !== known.note) throw new LogError('ERR_LEDGER_LOG_ROOT_MISMATCH', `the checkpoint of size ${known.checkpoint.size} was replaced`);
      fresh = stored.slice(1);
    }
    const frontier = internals.frontier();
    // Rows staged since the last matching checkpoint, and (sealed) those a matching checkpoint covers. Nothing
    // joins the tree, the index or `latest` until the whole catch-up has passed: the intermediate checkpoints'
    // signatures are not checked (the last one's signed root vouches for every leaf before it), so rows under
    // them are trusted only once the last checkpoint verified and every row after them checked out.
    let staged = 0;
    const leaves: Uint8Array[] = [];
    const parents: Uint8Array[] = [];
    const entries: Array<{ seq: number; kind: LedgerEntryKind; requestId: string | null }> = [];
    let stagedAt = lastAt;
    // (Asserted, not annotated: assigned in `seal`, which TypeScript's narrowing does not follow.)
    let sealed = null as { readonly at: string; readonly head: SignedCheckpoint } | null;
    let size = tree.size;
    let next = 0;
    /** Checkpoints of exactly the staged size: each must match, and the last one verify; then the rows are sealed. */
    const seal = (): void => {
      while (next < fresh.length && fresh[next]!.size === size) {
        const row = fresh[next]!;
        const last = next === fresh.length - 1;
        const checkpoint = last && key !== null ? verifyOwn(row.note, key, check) : parseUnverified(row.note, origin);
        if (checkpoint.size !== row.size) throw new LogError('ERR_LEDGER_LOG_CHECKPOINT_ORDER', `checkpoint ${row.size} signs size ${checkpoint.size}`);
        if (!bytesEqual(checkpoint.root, frontierRoot(frontier))) {
          throw new LogError('ERR_LEDGER_LOG_ROOT_MISMATCH', `the entries before ${row.size} do not have the root of checkpoint ${row.size}`);
        }
        sealed = { at: stagedAt, head: Object.freeze({ checkpoint, note: row.note }) };
        staged = 0;
        next += 1;
      }
    };
    seal();
    // The last verified entry too: a tail deleted at a batch boundary, or swapped, is seen.
    const boundary = size - 1;
    for (let from = Math.max(0, boundary); ; from = size) {
      const rows = await conn
        .selectFrom('ledger_entries')
        .select(['seq', 'body', 'leaf_hash', 'kind', 'request_id', 'at'])
        .where('seq', '>=', from)
        .orderBy('seq')
        .limit(PAGE)
        .execute();
      if (from === boundary && rows[0]?.seq !== boundary) {
        throw new LogError('ERR_LEDGER_LOG_TRUNCATED', `entry ${boundary}, verified before, is gone from the log`);
      }
      for (const row of rows) {
        if (row.seq < size) {
          const checked = checkStoredEntry(row, row.seq);
          if (!checked.ok || !bytesEqual(checked.leaf, tree.leafHash(row.seq))) {
            throw new LogError(checked.ok ? 'ERR_LEDGER_LOG_LEAF_MISMATCH' : checked.code, `entry ${row.seq}, verified before, was changed`);
          }
          continue;
        }
        if (row.seq !== size) throw new LogError('ERR_LEDGER_LOG_SEQ_MISMATCH', `entry ${size} is missing`);
        const checked = checkStoredEntry(row, size);
        if (!checked.ok) throw new LogError(checked.code, checked.message);
        appendToFrontier(frontier, size, checked.leaf, parents);
        leaves.push(checked.leaf);
        staged += 1;
        entries.push({ seq: size, kind: checked.index.kind, requestId: checked.index.requestId });
        if (checked.index.at > stagedAt) stagedAt = checked.index.at;
        size += 1;
        seal();
      }
      if (rows.length < PAGE) break;
    }
    if (staged > 0) {
      throw new LogError('ERR_LEDGER_LOG_UNSEALED', `entries ${size - staged}..${size - 1} are covered by no checkpoint of this log: not taken in, nothing is signed over them`);
    }
    if (next < fresh.length) {
      throw new LogError('ERR_LEDGER_LOG_TRUNCATED', `checkpoint ${fresh[next]!.size} covers more entries than the log holds (${size})`);
    }
    // Everything checked out (no staged rows are left, so every row read is sealed): the rows join.
    if (sealed === null) return;
    internals.appendComputed(leaves, parents);
    for (const entry of entries) index(entry.seq, entry.kind, entry.requestId);
    lastAt = sealed.at;
    latest = sealed.head;
  };

  /** Records the latest verified head in the state file; a failure stops every later batch (see `halted`). */
  const persist = async (): Promise<void> => {
    const head = latest;
    if (state === null || head === null) return;
    try {
      await state.record(head);
    } catch (error) {
      halted ??= error instanceof LogError ? error : new LogError('ERR_LEDGER_LOG_STATE_UNWRITABLE', 'cannot record the signed head', { cause: error });
      throw halted;
    }
  };

  /** At open: the verified log must contain the head the state file records, with its root (never a size signed twice). */
  const holdToRecordedHead = (): void => {
    const recorded = state?.head ?? null;
    if (recorded === null) return;
    if (tree.size < recorded.checkpoint.size) {
      throw new LogError('ERR_LEDGER_LOG_TRUNCATED', `the log holds ${tree.size} entries; the state file ${stateFile} records a signed head of ${recorded.checkpoint.size}`);
    }
    if (!bytesEqual(tree.root(recorded.checkpoint.size), recorded.checkpoint.root)) {
      throw new LogError('ERR_LEDGER_LOG_ROOT_MISMATCH', `the log has another root at size ${recorded.checkpoint.size} than the head recorded in the state file ${stateFile}`);
    }
  };

  /** One consistent snapshot (entries and checkpoints read together) of what others appended. */
  const catchUpSnapshot = (): Promise<void> =>
    db.connection().execute(async (conn) => {
      await beginSnapshot(conn);
      try {
        await exclusive(() => catchUp(conn as Kysely<LedgerTables>));
      } finally {
        await sql`commit`.execute(conn);
      }
    });

  const refresh = async (): Promise<void> => {
    await catchUpSnapshot();
    await persist();
  };

  const flush = async (batch: Pending[]): Promise<void> => {
    /** What each job settles with once the batch has committed. */
    const settled: Array<{ ok: true; value: unknown } | { ok: false; error: unknown }> = [];
    try {
      if (halted !== null) throw halted;
      await db.connection().execute(async (conn) => {
        const tx = conn as Kysely<LedgerTables>;
        await (postgres ? sql`begin` : sql`begin immediate`).execute(tx);
        try {
          // The writer lock, held until commit: SQLite's immediate transaction; on PostgreSQL the advisory
          // lock ADVISORY_LOCKS.ledgerWriter, taken first. Read committed there, so every read after it
          // sees what the previous writer committed.
          if (postgres) await lockAdvisory(tx, ADVISORY_LOCKS.ledgerWriter);
          // Inside the write lock: nobody else can append until we commit, and whatever is there is checked.
          await exclusive(() => catchUp(tx));
          const start = tree.size;
          // Never earlier than the latest entry (ours or another writer's): a clock that goes back does not
          // date the log backwards. Canonical instants of one format compare as strings.
          const now = clock.now().toISOString();
          const at = now < lastAt ? lastAt : now;
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
          // Commit and move the in-memory state in one step that no catch-up interleaves with.
          await exclusive(async () => {
            // Nothing else moves the tree while we hold the writer lock; if it did, this batch was sequenced
            // on a stale size: roll it back rather than commit it.
            if (tree.size !== start) throw new Error('ledger store: the tree moved while a batch held the writer lock');
            await sql`commit`.execute(tx);
            // Committed: only now does the in-memory state move.
            internals.appendComputed(
              buffer.rows.map((row) => row.leaf),
              buffer.parents,
            );
            for (const row of buffer.rows) index(row.seq, row.kind, row.requestId);
            if (buffer.rows.length > 0) lastAt = at;
            if (note !== null) {
              latest = Object.freeze({ checkpoint, note });
              sealedBy.set(batchIdentity, latest);
            }
          });
        } catch (error) {
          await sql`rollback`.execute(tx).catch(() => undefined);
          throw error;
        } finally {
          // The connection goes back to the pool: nothing a unit set on its session (SET, session characteristics,
          // a session advisory lock) may outlive the batch. (SQLite: its units cannot run PRAGMA or ATTACH.)
          if (postgres) await sql`discard all`.execute(tx).catch(() => undefined);
        }
      });
      // Before any caller of the batch is answered: the head it signed is on record outside the database.
      await persist();
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
    // Names from a small rotating set (see SAVEPOINT_NAMES in @covenant/db): units run one after another,
    // so neighbouring names differ, and the statements' text repeats, so SQLite prepares them once.
    units = (units + 1) % SAVEPOINT_NAMES;
    const unitSavepoint = `covenant_unit_${units}`;
    const name = sql.id(unitSavepoint);
    const confined = await confineToBatch(conn, gate, postgres, unitSavepoint);
    const handle = confined.db;
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
      isOpen(requestId: string): boolean {
        gate.assertOpen();
        let isOpen = open.has(requestId);
        // The batch's own entries so far come after the committed log.
        for (const row of buffer.rows) {
          if (row.requestId !== requestId) continue;
          if (row.kind === 'intent') isOpen = true;
          else if (row.kind === 'outcome') isOpen = false;
        }
        return isOpen;
      },
    });
    active.set(handle, unit);
    const undo = mark();
    await sql`savepoint ${name}`.execute(conn);
    let timer: NodeJS.Timeout | undefined;
    let outcome: { ok: true; value: unknown } | { ok: false; error: unknown };
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
      outcome = { ok: true, value };
    } catch (error) {
      outcome = { ok: false, error };
    } finally {
      clearTimeout(timer);
      release();
    }
    await confined.end();
    // The batch's transaction ended under the unit: nothing of the batch may commit, so the error escapes.
    if (confined.lost()) throw new LogError('ERR_LEDGER_LOG_UNIT_TRANSACTION', TRANSACTION_LOST);
    // Savepoints the unit left open are released (releasing the oldest releases those after it: their writes
    // stay in the unit's, as a commit would keep them), so that ours is the one rolled back to or released.
    // One that shadowed ours or an audit port's by name fails the unit: whatever was decided under a
    // shadowed savepoint does not stand.
    const left = confined.openSavepoints();
    if (left !== null) await sql`release savepoint ${sql.id(left.oldest)}`.execute(conn);
    if (left?.shadowing === true) {
      // (A unit that threw keeps its own error.)
      if (outcome.ok) outcome = { ok: false, error: new LogError('ERR_LEDGER_LOG_UNIT_TRANSACTION', "a unit of work left a savepoint open: it is rolled back (close every savepoint it opens, or use tx.savepoint())") };
    }
    if (outcome.ok) {
      await sql`release savepoint ${name}`.execute(conn);
      return outcome;
    }
    undo();
    // If these fail, the batch's state is unknown: the error escapes and the whole batch rolls back.
    await sql`rollback to savepoint ${name}`.execute(conn);
    await sql`release savepoint ${name}`.execute(conn);
    return outcome;
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
    // Stopped: its head is not on record, so it neither signs nor hands out a checkpoint any more.
    if (halted !== null) throw halted;
  };
  const assertWritable = (): void => {
    assertOpen();
    if (signer === undefined) throw new LogError('ERR_LEDGER_LOG_READ_ONLY', 'the ledger store was opened without a signer');
  };

  /** Reads the bodies of `seqs` (of the verified log) back, each checked against its verified leaf. */
  const readVerified = async (seqs: ReadonlyArray<number>): Promise<Map<number, { bytes: Uint8Array; entry: LedgerEntry }>> => {
    const found = new Map<number, { bytes: Uint8Array; entry: LedgerEntry }>();
    for (let i = 0; i < seqs.length; i += SEQ_CHUNK) {
      const rows = await db.selectFrom('ledger_entries').select(['seq', 'body']).where('seq', 'in', seqs.slice(i, i + SEQ_CHUNK)).execute();
      for (const row of rows) {
        const bytes = new Uint8Array(row.body);
        if (!bytesEqual(leafHash(bytes), tree.leafHash(row.seq))) throw new LogError('ERR_LEDGER_LOG_LEAF_MISMATCH', `entry ${row.seq}, verified before, was changed`);
        found.set(row.seq, Object.freeze({ bytes, entry: decodeEntry(bytes) }));
      }
    }
    const missing = seqs.find((seq) => !found.has(seq));
    if (missing !== undefined) throw new LogError('ERR_LEDGER_LOG_SEQ_MISMATCH', `entry ${missing}, verified before, is gone from the log`);
    return found;
  };

  const storage = await openStorageGuard(db, { writable: signer !== undefined, allowPrivilegedRole: unsafeAllowPrivilegedRole });
  // The whole log, checked; then held to the head on record outside the database, which it must contain.
  await catchUpSnapshot();
  holdToRecordedHead();
  await persist();

  return Object.freeze({
    append(entries: ReadonlyArray<NewEntry>): Promise<ReadonlyArray<number>> {
      let prepared: PreparedEntry[];
      try {
        assertWritable();
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
        assertWritable();
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
    checkpointOf(batch: object): SignedCheckpoint | null {
      return batch !== null && typeof batch === 'object' ? (sealedBy.get(batch) ?? null) : null;
    },
    async openIntents(): Promise<ReadonlyArray<LedgerEntry>> {
      assertOpen();
      await refresh();
      const seqs = [...open.values()].flat().sort((a, b) => a - b);
      const found = await readVerified(seqs);
      return Object.freeze(seqs.map((seq) => found.get(seq)!.entry));
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
      // Only entries of the verified log: a row beyond it (one nobody sealed) is not an entry.
      if (seq >= tree.size) await refresh();
      if (seq >= tree.size) throw new RangeError(`readEntry: entry ${seq} is not in the log`);
      return (await readVerified([seq])).get(seq)!;
    },
    async consistencyProof(size1: number, size2: number): Promise<Uint8Array[]> {
      assertOpen();
      await refresh();
      if (!Number.isSafeInteger(size1) || !Number.isSafeInteger(size2) || size1 < 1 || size1 > size2 || size2 > tree.size) {
        throw new RangeError(`consistencyProof: need 0 < size1 ≤ size2 ≤ ${tree.size}`);
      }
      return tree.consistencyProof(size1, size2);
    },
    digest(text: string): string {
      if (signer === undefined) throw new LogError('ERR_LEDGER_LOG_READ_ONLY', 'the ledger store was opened without a signer');
      return signer.digest(text);
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
 * A unit's right to run statements, revocable: once closed, every statement of its handle throws before it
 * reaches the database (see confineToBatch). A unit keeps its handle after it settles (or overruns); this
 * makes any late write fail instead of landing in a later unit's transaction.
 */
function createGate(): { assertOpen(): void; isOpen(): boolean; close(): void } {
  let open = true;
  return {
    assertOpen: () => {
      if (!open) throw new LogError('ERR_LEDGER_LOG_CLOSED', 'this ledger transaction has ended; its database handle is revoked');
    },
    isOpen: () => open,
    close: () => {
      open = false;
    },
  };
}

/** Opens a checkpoint with the log's own key: a mismatch means the rows were not written by a writer of this log. */
function verifyOwn(note: string, key: CheckpointVerifierKey, check: SignatureCheck | undefined): Checkpoint {
  const result = verifyCheckpointWith(note, key, check);
  if (!result.ok) throw new LogError('ERR_LEDGER_LOG_ROOT_MISMATCH', `a checkpoint does not verify with the store's key (${result.code})`);
  return result.checkpoint;
}

/** Without a key (a read-only store given none) only the text is parsed; the proofs it serves are verified by their reader. */
function parseUnverified(note: string, origin: string): Checkpoint {
  const end = note.indexOf('\n\n');
  const parsed = parseCheckpoint(end < 0 ? '' : note.slice(0, end + 1));
  if (!parsed.ok || parsed.checkpoint.origin !== origin) {
    throw new LogError('ERR_LEDGER_LOG_ROOT_MISMATCH', 'the latest checkpoint is not a checkpoint of this origin');
  }
  return parsed.checkpoint;
}
