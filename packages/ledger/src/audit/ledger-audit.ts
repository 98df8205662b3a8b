import {
  ACTION_THREW_CODE,
  AuditUnavailableError,
  type ActionResult,
  type AuditIntent,
  type AuditPort,
  type AuditReceipt,
  type AuditScope,
  type AuditedResult,
  type DenialRecord,
} from '@covenant/core';
import { dialectOf, type FileLock } from '@covenant/db';
import type { Kysely } from 'kysely';
import type { JsonValue, LedgerEntry, NewEntry } from '../entry.ts';
import type { LedgerStore, LedgerTransaction, SignedCheckpoint } from '../ledger-store.ts';
import { acquireSqliteWriterLock, acquireWriterLock, withDeadWriter, writerKeyOf, type WriterLock } from './writer-lock.ts';

export interface LedgerAuditOptions {
  /** A writable store (opened with a signer). The port does not close it. */
  readonly ledger: LedgerStore;
  /**
   * The database the ledger is on; it decides who else may write. On PostgreSQL the port takes a writer id
   * and its liveness lock (see `createLedgerAudit`, ADR 0010), which is what lets several processes share
   * the database. On a SQLite file it takes the file's writer lock: one writer process per file, a second
   * one is refused (`WriterBusyError`) before its start-up recovery could close the first one's calls.
   */
  readonly db: Kysely<any>;
}

/** The audit port on the ledger, and what it did when it was opened. */
export interface LedgerAudit extends AuditPort {
  /** Request ids of the intents found without an outcome at start-up and closed as `aborted`. */
  readonly recovered: ReadonlyArray<string>;
  /** This port's writer id (`pg:<key>`), recorded in its intents as `data.writer`; `null` when single-writer. */
  readonly writer: string | null;
  /**
   * Releases the writer lock (PostgreSQL: the session lock; SQLite: the file's writer lock): after it,
   * other processes' start-up recovery may close this port's open intents, so call it after the last
   * audited call (and after `ledger.flush()`). Later audited calls are refused (503). Idempotent.
   */
  close(): Promise<void>;
}

/** The code of the `aborted` outcomes start-up recovery appends for intents a crash left open. */
export const ABORTED_BY_CRASH = 'ERR_PROCESS_ENDED';

/**
 * The pipeline's audit port on the ledger (audit-before-action):
 *
 * 1. the intent is appended and committed (group commit: many intents per fsync) before the action runs;
 *    if that fails, `AuditUnavailableError` (503) and the action never runs;
 * 2. the action runs inside the ledger's next batch transaction, in a savepoint, with that transaction as
 *    `ctx.db`; tRPC's `{ ok: false }` is a failure like a throw: the savepoint is rolled back (no effect
 *    of a failed call survives) and a `failed` outcome carrying the error code is appended instead;
 * 3. the ok outcome entry commits in the same transaction as the action's writes: both, or neither. The
 *    caller gets its result only after that commit (one fsync and one signed checkpoint per batch);
 * 4. if the batch cannot commit, the call is 503 and the writes are gone with the batch; the intent then
 *    has no outcome, as after a crash;
 * 5. when the port is opened, intents without an outcome whose writer is gone (a crash cut them off) are
 *    closed as `aborted`. Which intents are open is read from the verified bodies of the log (the store's
 *    index), and re-checked inside the closing batch's writer lock (`tx.isOpen`), never from the unhashed
 *    `kind` and `request_id` columns. On PostgreSQL each port is a writer: it holds the session-level lock
 *    `pg_advisory_lock(ADVISORY_LOCKS.writers, key)` on a connection of its own until `close()`, and records
 *    `writer: "pg:<key>"` in its intents; recovery closes only the intents of writers whose lock it can take
 *    (their session ended), and intents without a writer (written before writer ids). Ok/failed outcomes
 *    are appended only after checking, inside their batch's transaction, that the lock is still ours — once
 *    per batch, before the first of its outcomes (see `createFence`): a writer that lost its connection
 *    cannot append an outcome after someone else aborted its intent. If the check fails, every outcome of
 *    the batch is refused (each call 503, its writes rolled back), and so is every later call, before its
 *    intent. On a SQLite file the port holds the file's writer lock (`<file>-writer`) until `close()`: a
 *    second port is refused with `WriterBusyError`, so recovery, which closes every open intent there, never
 *    runs beside a live writer;
 * 6. every audited call resolves with its receipt: the seqs of its intent and outcome and the signed
 *    checkpoint of the outcome's batch, which covers both.
 *
 * @example
 * ```ts
 * const ledger = await createLedgerStore({ db, origin: 'audit.example/prod', signer, stateFile });
 * const audit = await createLedgerAudit({ ledger, db });
 * const runtime = createCovenantRuntime({ identity, authorization: rbac, audit, database: db });
 * ```
 */
export async function createLedgerAudit(options: LedgerAuditOptions): Promise<LedgerAudit> {
  const ledger = options?.ledger;
  if (ledger === null || typeof ledger !== 'object' || typeof ledger.transact !== 'function') {
    throw new TypeError('createLedgerAudit: "ledger" must be a LedgerStore');
  }
  const db = options.db;
  if (db === null || typeof db !== 'object' || typeof db?.connection !== 'function') {
    throw new TypeError('createLedgerAudit: "db" (the kysely instance the ledger is on) is required');
  }
  let lock: WriterLock | null = null;
  let fileLock: FileLock | null = null;
  let recovered: ReadonlyArray<string>;
  if (dialectOf(db) === 'postgres') {
    // Our own lock first (a key no open intent names), then recovery: a writer that dies meanwhile is found.
    const open = await ledger.openIntents();
    lock = await acquireWriterLock(db, new Set(open.map((entry) => writerKeyOf(writerOf(entry))).filter((key) => key !== null)));
    try {
      recovered = await closeDeadWritersIntents(ledger, db, lock);
    } catch (error) {
      await lock.release();
      throw error;
    }
  } else {
    // The file's writer lock first: with it, nobody else is writing, so every open intent is a crash's.
    fileLock = await acquireSqliteWriterLock(db);
    try {
      recovered = Object.freeze(await closeStillOpen(ledger, await ledger.openIntents()));
    } catch (error) {
      fileLock?.release();
      throw error;
    }
  }
  const writer = lock?.id ?? null;
  const fence = lock === null ? null : createFence(lock);
  /** What an intent records in `data` (the call's kind, and our writer id): one frozen object per kind. */
  const dataFor = (kind: string): JsonValue => Object.freeze(writer === null ? { call: kind } : { call: kind, writer });
  const intentDataByKind = { query: dataFor('query'), mutation: dataFor('mutation') };
  const intentData = (kind: AuditIntent['kind']): JsonValue => intentDataByKind[kind] ?? dataFor(kind);
  let closed = false;

  /**
   * A failed outcome when the call's batch did not commit: on PostgreSQL only while our lock holds, and on
   * every database only if the intent is still open (another writer may have closed it): never two outcomes.
   */
  const appendUnavailable = async (about: About): Promise<void> => {
    const entry = outcomeEntry(about, 'failed', 'ERR_AUDIT_UNAVAILABLE');
    await ledger.transact(async (tx) => {
      if (fence !== null) await fence.check(tx);
      if (about.requestId !== null && tx.isOpen(about.requestId)) tx.append([entry]);
    });
  };

  /**
   * One call's unit of work in the batch: the action in a savepoint (rolled back unless it returned ok),
   * then — once the batch's fencing check has passed — its outcome, ok or failed.
   */
  const settle = async <R extends ActionResult>(tx: LedgerTransaction, about: About, action: (scope: AuditScope) => Promise<R>): Promise<Settled<R>> => {
    // A lock found lost (by an earlier unit of this batch, or before it): the outcome would be refused, so
    // the action does not run at all (it might have effects outside the database).
    lock?.assertNotLost();
    let outcome: Returned<R> | Threw;
    try {
      const result = await tx.savepoint(async () => {
        const result = await action({ db: tx.db });
        // tRPC reports failures as a result, not a throw: roll back on the flag, not on exceptions only.
        if (result?.ok !== true) throw new FailedResult(result);
        return result;
      });
      outcome = { type: 'returned', result };
    } catch (error) {
      outcome = error instanceof FailedResult ? { type: 'returned', result: error.result as R } : { type: 'threw', error };
    }
    // The code the pipeline gave (a result that says ok has none); a throw crosses as ACTION_THREW_CODE only.
    const code = outcome.type === 'threw' ? ACTION_THREW_CODE : outcome.result?.ok === true ? null : typeof outcome.result?.code === 'string' ? outcome.result.code : ACTION_THREW_CODE;
    // Fencing: if our lock is gone, recovery elsewhere may have aborted the intent; throwing here rolls
    // this unit (the action's writes included) back.
    if (fence !== null) await fence.check(tx);
    // And on every database: the intent must still be open, read inside the writer lock (the batch caught up
    // with every other writer's rows). Another writer's start-up recovery may have closed it as aborted — a
    // second process on the same SQLite file whose lock file was taken away, say: then the action must not
    // stand either, and the call is 503 with one outcome on the log, the aborted one.
    if (about.requestId === null || !tx.isOpen(about.requestId)) throw new IntentClosedError(about.requestId ?? '');
    const [seq] = tx.append([outcomeEntry(about, code === null ? 'ok' : 'failed', code)]);
    return { ...outcome, seq: seq!, batch: tx.batch };
  };

  return Object.freeze({
    recovered,
    writer,

    async close(): Promise<void> {
      closed = true;
      await lock?.release();
      fileLock?.release();
    },

    async audited<R extends ActionResult>(intent: AuditIntent, action: (scope: AuditScope) => Promise<R>): Promise<AuditedResult<R>> {
      const about = subjectOf(intent);
      let intentSeq: number;
      try {
        if (closed) throw new Error('the ledger audit port is closed');
        // A writer known to be fenced (its lock found lost) takes no more calls: none could get an outcome.
        lock?.assertNotLost();
        const [seq] = await ledger.append([{ kind: 'intent', ...about, outcome: null, inputDigest: ledger.digest(intent.canonicalInput), data: intentData(intent.kind) }]);
        intentSeq = seq!;
      } catch (error) {
        throw new AuditUnavailableError({ cause: error });
      }

      let settled: Settled<R>;
      try {
        settled = await ledger.transact((tx) => settle(tx, about, action));
      } catch (error) {
        // The batch did not commit (or the action overran and was rolled back): nothing of the action
        // stands. Say so in the log if we still can; otherwise start-up closes the intent as aborted.
        await appendUnavailable(about).catch(() => undefined);
        throw new AuditUnavailableError({ cause: error });
      }
      if (settled.type === 'threw') throw settled.error;
      return { result: settled.result, receipt: receiptOf(intentSeq, settled.seq, ledger.checkpointOf(settled.batch)) };
    },

    async recordDenial(record: DenialRecord): Promise<void> {
      const { decision } = record;
      const resource = decision.resource;
      await ledger.append([
        {
          kind: 'denial',
          action: record.procedure,
          actor: { subject: record.actor.subject, session: record.actor.session },
          tenant: { org: record.tenant.org, workspace: record.tenant.workspace },
          resource: resource !== null && resource.id !== null ? { type: resource.type, id: resource.id } : null,
          requestId: record.requestId,
          outcome: null,
          inputDigest: null,
          data: {
            code: decision.code,
            capability: decision.capability,
            resourceType: resource?.type ?? null,
          } satisfies JsonValue,
        },
      ]);
    },
  });
}

/** The call's intent was closed by someone else (another writer's recovery) before its outcome: refused. */
export class IntentClosedError extends Error {
  override readonly name = 'IntentClosedError';
  readonly code = 'ERR_LEDGER_INTENT_CLOSED' as const;
  constructor(requestId: string) {
    super(`the intent of request ${requestId.slice(0, 64)} was closed by another writer before its outcome; its action is rolled back`);
  }
}

type Returned<R> = { readonly type: 'returned'; readonly result: R };
type Threw = { readonly type: 'threw'; readonly error: unknown };
/** How a call's unit ended, with where its outcome went: its seq and the batch it committed in. */
type Settled<R> = (Returned<R> | Threw) & { readonly seq: number; readonly batch: object };

/** The receipt of a call whose outcome `outcomeSeq` committed under `checkpoint`. */
function receiptOf(intentSeq: number, outcomeSeq: number, sealed: SignedCheckpoint | null): AuditReceipt | null {
  if (sealed === null) return null;
  const { size, root } = sealed.checkpoint;
  return Object.freeze({ intentSeq, outcomeSeq, checkpoint: Object.freeze({ size, root: Buffer.from(root).toString('base64'), note: sealed.note }) });
}

/** Carries a not-ok result out of the savepoint so that it rolls back. */
class FailedResult {
  constructor(readonly result: unknown) {}
}

/**
 * Fencing once per batch (PostgreSQL): `check(tx)` resolves if this writer's lock is held inside the batch
 * transaction `tx` runs in, with one query per batch (`tx.batch`). Checking once inside a batch transaction
 * covers every outcome it appends: the batch holds the ledger's writer lock (transaction scoped) until it
 * commits, and recovery elsewhere can close our intents only in a batch of its own, so only after ours has
 * committed — and it then re-reads which intents are still open and sees our outcomes. If the lock goes
 * after the check passed, recovery waits for our commit; if it had gone before, the check fails, which
 * refuses every outcome of the batch (and the lock, once lost, stays lost: `WriterLockLostError` for every
 * later unit and call).
 */
interface Fence {
  check(tx: LedgerTransaction): Promise<void>;
}

function createFence(lock: WriterLock): Fence {
  /** The batch whose transaction last saw the lock held. */
  let checked: object | null = null;
  return {
    async check(tx: LedgerTransaction): Promise<void> {
      lock.assertNotLost(); // released (close()) or found lost: refused, whatever this batch saw
      if (checked === tx.batch) return;
      await lock.assertHeld(tx.db);
      checked = tx.batch;
    },
  };
}

type About = Pick<NewEntry, 'action' | 'actor' | 'tenant' | 'resource' | 'requestId'>;

function subjectOf(intent: AuditIntent): About {
  return {
    action: intent.procedure,
    actor: intent.actor && { subject: intent.actor.subject, session: intent.actor.session },
    tenant: intent.tenant && { org: intent.tenant.org, workspace: intent.tenant.workspace },
    resource: intent.resource !== null && intent.resource.id !== null ? { type: intent.resource.type, id: intent.resource.id } : null,
    requestId: intent.requestId,
  };
}

function outcomeEntry(about: About, outcome: 'ok' | 'failed' | 'aborted', code: string | null): NewEntry {
  return { kind: 'outcome', ...about, outcome, inputDigest: null, data: code === null ? null : { code } };
}

/** The writer id an intent recorded (`data.writer`), or `null` (an intent from before writer ids). */
function writerOf(entry: LedgerEntry): string | null {
  const data = entry.data;
  if (data === null || typeof data !== 'object' || Array.isArray(data)) return null;
  const writer = (data as { readonly [key: string]: JsonValue })['writer'];
  return typeof writer === 'string' ? writer : null;
}

/**
 * Start-up recovery with several live writers (PostgreSQL): groups the open intents by writer and closes
 * those of writers that are gone — whose lock can be taken now (held while closing), our own key's
 * predecessors (we hold that lock, so their writer is not alive), and intents without a writer id. The
 * closing batch re-reads, under the ledger's writer lock, which of them are still open, so two processes
 * recovering at once append one `aborted` outcome per intent, not two.
 */
async function closeDeadWritersIntents(ledger: LedgerStore, db: Kysely<any>, own: WriterLock): Promise<ReadonlyArray<string>> {
  const open = await ledger.openIntents();
  const byWriter = new Map<string | null, LedgerEntry[]>();
  for (const intent of open) {
    const writer = writerOf(intent);
    const key = writerKeyOf(writer);
    const group = key === null ? null : writer;
    byWriter.set(group, [...(byWriter.get(group) ?? []), intent]);
  }
  const recovered: string[] = [];
  for (const [writer, intents] of byWriter) {
    const key = writerKeyOf(writer);
    if (key === null || key === own.key) {
      recovered.push(...(await closeStillOpen(ledger, intents)));
      continue;
    }
    const result = await withDeadWriter(db, key, () => closeStillOpen(ledger, intents));
    if (result.taken) recovered.push(...result.value);
  }
  return Object.freeze(recovered);
}

/**
 * One batch: of `intents`, those still open inside its writer lock (`tx.isOpen`: from verified bodies, so
 * two processes recovering at once, or a call that closed meanwhile, get no second outcome) get one
 * `aborted` outcome per request id. Returns their request ids.
 */
async function closeStillOpen(ledger: LedgerStore, intents: ReadonlyArray<LedgerEntry>): Promise<string[]> {
  if (intents.length === 0) return [];
  return ledger.transact(async (tx) => {
    const closing = new Map<string, LedgerEntry>();
    for (const intent of intents) {
      const requestId = intent.requestId ?? '';
      if (!closing.has(requestId) && tx.isOpen(requestId)) closing.set(requestId, intent);
    }
    tx.append(
      [...closing.values()].map((intent) =>
        outcomeEntry(
          { action: intent.action, actor: intent.actor, tenant: intent.tenant, resource: intent.resource, requestId: intent.requestId },
          'aborted',
          ABORTED_BY_CRASH,
        ),
      ),
    );
    return [...closing.keys()];
  });
}
