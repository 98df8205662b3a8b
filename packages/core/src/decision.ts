import type { AuthorizationDecision } from './authorization.ts';

/**
 * What every decision of Covenant is: a record, with the kind of check that made it, whether it allows, and
 * a stable code from that kind's own literal union. The same object is logged, returned to the pipeline
 * and written to the ledger, so a decision is never re-described on the way.
 */
export interface DecisionRecord<Kind extends string, Code extends string> {
  readonly kind: Kind;
  readonly allowed: boolean;
  readonly code: Code;
}

/**
 * Every decision the pipeline can meet. Consent, elevation (break-glass), egress and rate-limit decisions
 * join this union as their subsystems land, each a `DecisionRecord` of its own kind and codes.
 */
export type Decision = AuthorizationDecision;
