import { walkSchema } from '@covenant/contract';
import { canonicalJson } from '@covenant/contract/manifest';
import type { JsonValue, LedgerStore, NewEntry } from '@covenant/ledger';
import { redactClassified } from '@covenant/contract';
import { errorForLog, type Digester } from '@covenant/core';
import type { RbacChangeEvent, RbacStoreOptions } from './rbac-store.ts';
import { ChangeValueRecord } from './records.ts';

/** Where a refused change that could not be recorded is reported (a pino logger fits). */
export interface ChangeFailureLog {
  error(details: object, message: string): void;
}

/** The two hooks of an RBAC store whose every change, applied or refused, is a ledger entry. */
export type LedgerRecording = Required<Pick<RbacStoreOptions, 'onChange' | 'keepRefusal'>>;

/**
 * The `onChange` and `keepRefusal` of an RBAC store whose every change is a ledger entry (DESIGN: "every
 * change is a ledger entry with who, why and a before/after diff"):
 *
 * - an applied change is appended in the transaction that makes it, so the change and its entry commit
 *   together; a change made outside a ledger transaction (`ledger.transact`, or an audited handler's
 *   `ctx.db`) is refused, so no change can miss the ledger;
 * - a refused change is a fact, not an effect: the call it belongs to fails and rolls back, so its record
 *   and its `denial` entry are written in a unit of the ledger's next batch, together (the call's `failed`
 *   outcome also carries the refusal's code). If that fails, `log` hears of it;
 * - the free-text reason is recorded only as the ledger's keyed digest (a plain hash would let anyone holding
 *   the log confirm a guessed reason), and the records' classified fields (a binding's
 *   subject, a role's description: see `ChangeValueRecord`) as `[redacted:<class>]` (they may name
 *   people, and the ledger cannot forget); the full record stays in `rbac_changes`.
 *
 * @example
 * ```ts
 * const rbac = createRbacStore({ db, ...recordChangesOn(ledger, logger) });
 * await ledger.transact((tx) => rbac.bind(tx.db).bootstrapTenant('ops', 'org_a', 'alice', 'first admin'));
 * ```
 */
export function recordChangesOn(ledger: LedgerStore, log: ChangeFailureLog): LedgerRecording {
  return {
    onChange: (change, db) => {
      const tx = ledger.transactionOf(db);
      if (tx === null) {
        throw new Error('RBAC changes are made inside a ledger transaction (an audited procedure, or ledger.transact): this one would miss the ledger');
      }
      tx.append([changeEntry(change, ledger)]);
    },
    // Queued behind the batch the refused call may be running in (never awaited there: see keepRefusal), so
    // the record commits with the next batch, after the call's own transaction has rolled back.
    keepRefusal: (record) =>
      ledger.transact((tx) => record(tx.db)).catch((error: unknown) => log.error({ error: errorForLog(error) }, 'could not record a refused RBAC change')),
  };
}

/**
 * The ledger entry of one change: `rbac.<action>`, who (`user:` or `operator:`), the org, why (the reason's
 * keyed digest, by `digester`: the ledger), before/after with their classified fields redacted.
 */
export function changeEntry(change: RbacChangeEvent, digester: Digester): NewEntry {
  const classified = walkSchema(ChangeValueRecord, 'output').classified;
  return {
    kind: change.outcome === 'refused' ? 'denial' : 'event',
    action: `rbac.${change.action}`,
    actor: { subject: change.actor, session: null },
    tenant: { org: change.org, workspace: null },
    resource: null,
    requestId: change.requestId,
    outcome: null,
    inputDigest: null,
    data: {
      change: change.outcome,
      reasonDigest: digester.digest(change.reason),
      before: toJson(change.before === null || change.before === undefined ? null : redactClassified(change.before, classified)),
      after: toJson(change.after === null || change.after === undefined ? null : redactClassified(change.after, classified)),
    },
  };
}

function toJson(value: unknown): JsonValue {
  return value === null || value === undefined ? null : (JSON.parse(canonicalJson(value)) as JsonValue);
}
