import { createHash } from 'node:crypto';
import { canonicalJson } from '@covenant/contract/manifest';
import type { JsonValue, LedgerStore, NewEntry } from '@covenant/ledger';
import type { RbacChangeEvent, RbacStoreOptions } from './rbac-store.ts';

/** Where a refused change that could not be recorded is reported (a pino logger fits). */
export interface ChangeFailureLog {
  error(details: object, message: string): void;
}

/**
 * The `onChange` of an RBAC store whose every change is a ledger entry (DESIGN: "every change is a ledger
 * entry with who, why and a before/after diff"):
 *
 * - an applied change is appended in the transaction that makes it, so the change and its entry commit
 *   together; a change made outside a ledger transaction (`ledger.transact`, or an audited handler's
 *   `ctx.db`) is refused, so no change can miss the ledger;
 * - a refused change is a fact, not an effect: the call it belongs to fails and rolls back, so its
 *   `denial` entry is appended on its own, with the next batch (the call's `failed` outcome also carries
 *   the refusal's code). If that append fails, `log` hears of it;
 * - the free-text reason is recorded as a digest only (it may name people, and the ledger cannot forget);
 *   the full text stays in `rbac_changes`.
 *
 * @example
 * ```ts
 * const rbac = createRbacStore({ db, onChange: recordChangesOn(ledger, logger) });
 * await ledger.transact((tx) => rbac.bind(tx.db).bootstrapTenant('ops', 'org_a', 'alice', 'first admin'));
 * ```
 */
export function recordChangesOn(ledger: LedgerStore, log: ChangeFailureLog): NonNullable<RbacStoreOptions['onChange']> {
  return (change, db) => {
    const entry = changeEntry(change);
    if (change.outcome === 'refused') {
      // Not awaited: this runs inside the current batch, and the append commits with the next one.
      ledger.append([entry]).catch((error: unknown) => log.error({ err: error, requestId: change.requestId }, 'could not record a refused RBAC change'));
      return;
    }
    const tx = ledger.transactionOf(db);
    if (tx === null) {
      throw new Error('RBAC changes are made inside a ledger transaction (an audited procedure, or ledger.transact): this one would miss the ledger');
    }
    tx.append([entry]);
  };
}

/** The ledger entry of one change: `rbac.<action>`, who (`user:` or `operator:`), the org, why (digest), before/after. */
export function changeEntry(change: RbacChangeEvent): NewEntry {
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
      reasonDigest: `sha256:${createHash('sha256').update(change.reason, 'utf8').digest('hex')}`,
      before: toJson(change.before),
      after: toJson(change.after),
    },
  };
}

function toJson(value: unknown): JsonValue {
  return value === null || value === undefined ? null : (JSON.parse(canonicalJson(value)) as JsonValue);
}
