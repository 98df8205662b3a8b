import type { Principal } from '@covenant/identity';

/**
 * A resource an authorization check is about. At the entry check of a resource-scoped procedure the id
 * is not known yet (the input is not parsed): `id: null` asks "may this principal hold the capability on
 * some resource of this type?"; the resource check after parsing asks about the exact id.
 */
export interface ResourceSelector {
  readonly type: string;
  readonly id: string | null;
}

export interface AuthorizationRequest {
  readonly principal: Principal;
  readonly capability: string;
  readonly resource: ResourceSelector | null;
}

/** Decisions are records: the same object is logged, returned to the pipeline and written to the ledger. */
export type AuthorizationDecision =
  | {
      readonly allowed: true;
      readonly code: string;
      readonly capability: string;
      readonly resource: ResourceSelector | null;
      /** What granted it (a role or binding id), for the audit trail. */
      readonly matched?: string;
    }
  | {
      readonly allowed: false;
      readonly code: string;
      readonly capability: string;
      readonly resource: ResourceSelector | null;
    };

/**
 * The authorization port. The server cannot be assembled without one and there is no allow-all default:
 * the RBAC package provides the real implementation, the testkit a static one for tests.
 */
export interface AuthorizationPort {
  check(request: AuthorizationRequest): AuthorizationDecision | Promise<AuthorizationDecision>;
}

/** Who did it, in which tenant: always taken from the verified principal. */
export interface AuditActor {
  readonly subject: string;
  readonly session: string | null;
}

export interface AuditIntent {
  readonly requestId: string;
  readonly procedure: string;
  readonly kind: 'query' | 'mutation';
  readonly actor: AuditActor | null;
  readonly tenant: { readonly org: string; readonly workspace: string | null } | null;
  readonly resource: ResourceSelector | null;
  /**
   * The parsed input with every classified field replaced by its `[redacted:<class>]` label. The port
   * records it only as a keyed digest of its canonical JSON (`inputDigestOf`; the ledger's is keyed with the
   * log's digest key), never as it is: unclassified fields are still the caller's data.
   */
  readonly redactedInput: unknown;
  readonly at: Date;
}

/**
 * A refusal as the ledger records it: a denied authorization decision, or a principal found invalid at
 * the action (expired, revoked: `code` is the identity error's, `capability` the procedure's or `null`
 * when it declares none).
 */
export interface Denial {
  readonly allowed: false;
  readonly code: string;
  readonly capability: string | null;
  readonly resource: ResourceSelector | null;
}

export interface DenialRecord {
  readonly requestId: string;
  readonly procedure: string;
  readonly actor: AuditActor;
  readonly tenant: { readonly org: string; readonly workspace: string | null };
  readonly decision: Denial;
  readonly at: Date;
}

/** The outcome of an audited action, as the pipeline saw it: `ok` is tRPC's result flag, never "no exception". */
export interface ActionResult {
  readonly ok: boolean;
  /** When not ok: what failed (tRPC's error). `failureCodeOf` gives the code to record. */
  readonly error?: unknown;
}

/**
 * What the audit port hands the action: the database the handler's writes go to (`ctx.db`). The ledger
 * port passes its transaction, so the writes commit with the outcome entry or roll back with the failure.
 * `undefined` leaves the runtime's `database` in place (an audit port without transactions).
 */
export interface AuditScope {
  readonly db?: unknown;
}

/**
 * What an audited call hands back so that its caller can hold the log to it: where the call's two entries
 * are, and a signed checkpoint covering both. A client keeps it; later it checks an inclusion proof of each
 * entry against `checkpoint` (`ledger.prove`, `verifyBundle` of @covenant/ledger) and that any newer head of
 * the log is consistent with it. A log that no longer contains this checkpoint was rewritten.
 */
export interface AuditReceipt {
  /** The sequence number (leaf index) of the call's intent entry. */
  readonly intentSeq: number;
  /** The sequence number of its outcome entry (ok or failed). */
  readonly outcomeSeq: number;
  /** The checkpoint the outcome's batch committed with: `size` > both seqs, `root` its base64 root hash, `note` the C2SP signed note. */
  readonly checkpoint: { readonly size: number; readonly root: string; readonly note: string };
}

/** What `audited` resolves with: the action's result, and the receipt of its entries (`null` when the port keeps no signed log). */
export interface AuditedResult<R> {
  readonly result: R;
  readonly receipt: AuditReceipt | null;
}

/**
 * The audit port. `audited` must:
 * 1. make the intent durable before it calls `action`; if it cannot, reject with `AuditUnavailableError`
 *    and never call `action` (fail closed);
 * 2. run `action` (the ledger implementation runs it in a transaction it passes as `scope.db`);
 * 3. when the result is ok, record the outcome together with the action's effects; if that cannot be
 *    committed, roll back and reject with `AuditUnavailableError`;
 * 4. when the result is not ok (or `action` throws), roll the effects back, record a failure outcome, and
 *    return the result (or rethrow);
 * 5. resolve only once the outcome is durable, with the result and the receipt of both entries.
 */
export interface AuditPort {
  audited<R extends ActionResult>(intent: AuditIntent, action: (scope: AuditScope) => Promise<R>): Promise<AuditedResult<R>>;
  /** Records a refused authorization. Best effort: the call is refused whether or not this succeeds. */
  recordDenial(record: DenialRecord): Promise<void>;
}

/** What a database scope is told about the call whose handler it wraps (see `DatabaseScope`). */
export interface DatabaseScopeCall {
  /** The verified caller's tenant; `null` for an unauthenticated procedure. */
  readonly tenant: { readonly org: string; readonly workspace: string | null } | null;
  /** The procedure's path (`tickets.list`): a scope may apply to some procedures only. */
  readonly path: string;
  /** `true` when `db` is the audit port's transaction (audited procedures), `false` for the runtime's `database`. */
  readonly audited: boolean;
  /** The handle the handler would otherwise get as `ctx.db` (`undefined` when none is configured). */
  readonly db: unknown;
}

/**
 * Runs a handler inside a tenant-scoped database scope: `work` is the handler, called with the handle it
 * gets as `ctx.db`. An application uses it to have the database enforce tenancy under its handlers'
 * filters (PostgreSQL row-level security keyed on the tenant set per transaction, a guard plugin on
 * SQLite; see ADR 0011). It must call `work` at most once and return (or throw) what it returns (throws).
 */
export type DatabaseScope = <T>(call: DatabaseScopeCall, work: (db: unknown) => Promise<T>) => Promise<T>;
