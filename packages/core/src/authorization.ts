import type { DecisionRecord } from './decision.ts';
import type { Principal } from './principal.ts';
import { SecurityError } from './security-error.ts';

/**
 * A resource an authorization check is about. At the entry check of a resource-scoped procedure the id
 * is not known yet (the input is not parsed): `id: null` asks "may this principal hold the capability on
 * some resource of this type?"; the resource check after parsing asks about the exact id.
 */
export interface ResourceSelector {
  readonly type: string;
  readonly id: string | null;
}

/** The security options a procedure declares, as its contract resolved them. */
export interface DeclaredSecurity {
  readonly requireAuth: boolean;
  readonly capability: string | null;
  readonly resource: { readonly type: string; readonly id: string } | null;
  readonly audit: boolean;
}

/** The procedure a check is made for: a decorator of the port (break-glass, say) decides on it too. */
export interface ProcedureContext {
  /** Its path (`tickets.list`). */
  readonly path: string;
  readonly kind: 'query' | 'mutation';
  readonly security: DeclaredSecurity;
}

export interface AuthorizationRequest {
  readonly principal: Principal;
  readonly capability: string;
  readonly resource: ResourceSelector | null;
  readonly procedure: ProcedureContext;
}

/** The code of an allowing authorization decision. */
export type AuthorizationAllowedCode = 'authz.allowed';

/**
 * The codes of a refusing one: no grant of the capability, a deny binding, a capability nobody registered,
 * one that is not a capability name, or (the pipeline's own) a port that answered something other than a
 * decision.
 */
export type AuthorizationDeniedCode =
  | 'authz.missing_capability'
  | 'authz.denied_by_binding'
  | 'authz.unknown_capability'
  | 'authz.invalid_capability'
  | 'authz.invalid_decision';

export type AuthorizationDecision =
  | (DecisionRecord<'authorization', AuthorizationAllowedCode> & {
      readonly allowed: true;
      readonly capability: string;
      readonly resource: ResourceSelector | null;
      /** What granted it (a role or binding id), for the audit trail. */
      readonly matched?: string;
    })
  | (DecisionRecord<'authorization', AuthorizationDeniedCode> & {
      readonly allowed: false;
      readonly capability: string;
      readonly resource: ResourceSelector | null;
    });

/**
 * The authorization port. The server cannot be assembled without one and there is no allow-all default:
 * `@covenant/rbac` provides the real implementation, `@covenant/testkit` a static one for tests.
 */
export interface AuthorizationPort {
  check(request: AuthorizationRequest): AuthorizationDecision | Promise<AuthorizationDecision>;
}

/** The authorization port failed to answer. The call is refused (fail closed), not allowed. */
export class AuthorizationUnavailableError extends SecurityError {
  override readonly name = 'AuthorizationUnavailableError';
  readonly code = 'ERR_AUTHZ_UNAVAILABLE' as const;
  readonly status = 503 as const;
  readonly wireMessage = 'The operation was not performed: authorization is unavailable';

  constructor(options?: { cause?: unknown }) {
    super('the authorization port failed', options);
  }
}
