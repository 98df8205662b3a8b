import {
  AuditUnavailableError,
  failureCodeOf,
  type ActionResult,
  type AuditIntent,
  type AuditPort,
  type AuditScope,
  type DenialRecord,
} from '@covenant/server';
import type { JsonValue, NewEntry } from '../entry.ts';
import type { LedgerStore } from '../ledger-store.ts';

export interface LedgerAuditOptions {
  /** A writable store (opened with a signer). The port does not close it. */
  readonly ledger: LedgerStore;
}

/** The audit port on the ledger, and what it did when it was opened. */
export interface LedgerAudit extends AuditPort {
  /** Request ids of the intents found without an outcome at start-up and closed as `aborted`. */
  readonly recovered: ReadonlyArray<string>;
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
 * 5. when the port is opened, intents without an outcome (a crash cut them off) are closed as `aborted`.
 *    Run this before serving: on a database shared by several live processes it would close their
 *    in-flight calls too (one start-up at a time; the PostgreSQL issue adds writer leases).
 *
 * @example
 * ```ts
 * const ledger = await createLedgerStore({ db, origin: 'audit.example/prod', signer });
 * const audit = await createLedgerAudit({ ledger });
 * const runtime = createCovenantRuntime({ identity, authorization: rbac, audit, database: db });
 * ```
 */
export async function createLedgerAudit(options: LedgerAuditOptions): Promise<LedgerAudit> {
  const ledger = options?.ledger;
  if (ledger === null || typeof ledger !== 'object' || typeof ledger.transact !== 'function') {
    throw new TypeError('createLedgerAudit: "ledger" must be a LedgerStore');
  }
  const recovered = await closeOpenIntents(ledger);

  return Object.freeze({
    recovered,

    async audited<R extends ActionResult>(intent: AuditIntent, action: (scope: AuditScope) => Promise<R>): Promise<R> {
      const about = subjectOf(intent);
      try {
        await ledger.append([{ kind: 'intent', ...about, outcome: null, inputDigest: intent.inputDigest, data: { call: intent.kind } }]);
      } catch (error) {
        throw new AuditUnavailableError({ cause: error });
      }

      let settled: Settled<R>;
      try {
        settled = await ledger.transact(async (tx): Promise<Settled<R>> => {
          let outcome: Settled<R>;
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
          const code = outcome.type === 'returned' ? failureCodeOf(outcome.result) : failureCodeOf({ ok: false, error: outcome.error });
          tx.append([outcomeEntry(about, code === null ? 'ok' : 'failed', code)]);
          return outcome;
        });
      } catch (error) {
        // The batch did not commit (or the action overran and was rolled back): nothing of the action
        // stands. Say so in the log if we still can; otherwise start-up closes the intent as aborted.
        await ledger.append([outcomeEntry(about, 'failed', 'ERR_AUDIT_UNAVAILABLE')]).catch(() => undefined);
        throw new AuditUnavailableError({ cause: error });
      }
      if (settled.type === 'threw') throw settled.error;
      return settled.result;
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

type Settled<R> = { readonly type: 'returned'; readonly result: R } | { readonly type: 'threw'; readonly error: unknown };

/** Carries a not-ok result out of the savepoint so that it rolls back. */
class FailedResult {
  constructor(readonly result: unknown) {}
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

/** Start-up recovery: one `aborted` outcome per intent left open, appended in one batch. */
async function closeOpenIntents(ledger: LedgerStore): Promise<ReadonlyArray<string>> {
  const open = await ledger.openIntents();
  if (open.length === 0) return Object.freeze([]);
  const entries = open.map((intent) =>
    outcomeEntry(
      { action: intent.action, actor: intent.actor, tenant: intent.tenant, resource: intent.resource, requestId: intent.requestId },
      'aborted',
      ABORTED_BY_CRASH,
    ),
  );
  await ledger.append(entries);
  return Object.freeze(open.map((intent) => intent.requestId ?? ''));
}
