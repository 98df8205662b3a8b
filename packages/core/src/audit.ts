import type { AuthorizationDeniedCode, ResourceSelector } from './authorization.ts';
import type { Tenant } from './principal.ts';
import { SecurityError } from './security-error.ts';

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
  readonly tenant: Tenant | null;
  readonly resource: ResourceSelector | null;
  /**
   * The canonical JSON of the parsed input with every classified field replaced by its `[redacted:<class>]`
   * label. A port records it only as a keyed digest (the ledger's is keyed with the log's digest key),
   * never as it is: unclassified fields are still the caller's data.
   */
  readonly canonicalInput: string;
  readonly at: Date;
}

/**
 * The code a principal found invalid at the action is refused with (expired, revoked …): an identity
 * error's own code.
 */
export type PrincipalRefusedCode = `ERR_IDENTITY_${string}`;

/**
 * A refusal as the ledger records it: a denied authorization decision, or a principal found invalid at
 * the action (`capability` is the procedure's, or `null` when it declares none).
 */
export interface Denial {
  readonly allowed: false;
  readonly code: AuthorizationDeniedCode | PrincipalRefusedCode;
  readonly capability: string | null;
  readonly resource: ResourceSelector | null;
}

export interface DenialRecord {
  readonly requestId: string;
  readonly procedure: string;
  readonly actor: AuditActor;
  readonly tenant: Tenant;
  readonly decision: Denial;
  readonly at: Date;
}

/**
 * The outcome of an audited action, as the pipeline saw it — a flag and a stable code, never the error
 * itself (its message and cause stay in the server log). The pipeline hands back more (the transport's
 * result) in the same object; a port looks at these two only.
 */
export type ActionResult =
  | { readonly ok: true; readonly code: null }
  | {
      readonly ok: false;
      /** What failed: a declared error's code, a security error's, `ERR_INPUT_INVALID`, or `ERR_INTERNAL`. */
      readonly code: string;
    };

/** What a port records for an action that threw instead of returning a result: nothing of the error crosses. */
export const ACTION_THREW_CODE = 'ERR_INTERNAL';

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
 * 4. when the result is not ok, roll the effects back, record a failure outcome with the result's code, and
 *    return the result; when `action` throws, the same with `ACTION_THREW_CODE`, then rethrow;
 * 5. resolve only once the outcome is durable, with the result and the receipt of both entries.
 * `runAuditPortConformance` of `@covenant/testkit` checks all of it.
 */
export interface AuditPort {
  audited<R extends ActionResult>(intent: AuditIntent, action: (scope: AuditScope) => Promise<R>): Promise<AuditedResult<R>>;
  /** Records a refused authorization. Best effort: the call is refused whether or not this succeeds. */
  recordDenial(record: DenialRecord): Promise<void>;
}

/** The audit intent could not be made durable, so the action did not run (fail closed). */
export class AuditUnavailableError extends SecurityError {
  override readonly name = 'AuditUnavailableError';
  readonly code = 'ERR_AUDIT_UNAVAILABLE' as const;
  readonly status = 503 as const;
  readonly wireMessage = 'The operation was not performed: its audit record could not be written';

  constructor(options?: { cause?: unknown }) {
    super('the audit record could not be written', options);
  }
}

/** What keys a digest: the ledger's signer and store (`digest`) are such keyed digesters. */
export interface Digester {
  digest(text: string): string;
}
