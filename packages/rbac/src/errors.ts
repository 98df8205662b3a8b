import { SecurityError } from '@covenant/core';

export type RbacErrorCode =
  | 'ROLE_NOT_FOUND'
  | 'ROLE_EXISTS'
  | 'BINDING_NOT_FOUND'
  | 'UNKNOWN_CAPABILITY'
  | 'INVALID_BINDING'
  | 'INVALID_ROLE'
  | 'ORG_UNMANAGEABLE'
  | 'TENANT_ALREADY_BOOTSTRAPPED'
  | 'TENANT_NOT_BOOTSTRAPPED'
  | 'TENANT_NOT_LOCKED_OUT';

/**
 * A policy change that cannot be made as asked. The codes match the errors the `rbac` platform contract
 * declares, so the admin handlers pass them to the client as they are (the `TENANT_*` codes are the
 * operator paths' own). `ORG_UNMANAGEABLE`: the change would leave the org with nobody able to manage its
 * bindings; it is refused and recorded as a refused change.
 */
export class RbacChangeError extends Error {
  override readonly name = 'RbacChangeError';
  readonly code: RbacErrorCode;

  constructor(code: RbacErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

/**
 * The actor asked to grant (directly, or by editing a role someone holds) a capability it does not hold
 * itself. Refused, and recorded as a refused change.
 */
export class EscalationRefusedError extends SecurityError {
  override readonly name = 'EscalationRefusedError';
  readonly code = 'ERR_RBAC_ESCALATION_REFUSED' as const;
  readonly status = 403 as const;
  readonly wireMessage = 'You cannot grant capabilities you do not hold';
  readonly capabilities: ReadonlyArray<string>;

  constructor(capabilities: ReadonlyArray<string>) {
    super(`escalation refused: the actor lacks ${capabilities.join(', ')}`);
    this.capabilities = capabilities;
  }
}

/**
 * The actor asked to change something outside the scope it manages: a binding in a workspace (or, for an
 * org-wide binding, the whole org) where it does not hold the managing capability (`rbac.bindings.manage`
 * by default), or a role without holding `rbac.roles.manage` org-wide; or anything outside the workspace
 * its session is bound to. Refused, and recorded as a refused change.
 */
export class ScopeRefusedError extends SecurityError {
  override readonly name = 'ScopeRefusedError';
  readonly code = 'ERR_RBAC_SCOPE_REFUSED' as const;
  readonly status = 403 as const;
  readonly wireMessage = 'You cannot change the policy outside the scope you manage';
  /** The managing capability the change needs. */
  readonly capability: string;
  /** Where it needs it: a workspace, or `null` for the whole org. */
  readonly workspace: string | null;

  constructor(capability: string, workspace: string | null) {
    super(`scope refused: the actor does not manage ${workspace === null ? 'the whole org' : `workspace ${JSON.stringify(workspace)}`} with ${capability}`);
    this.capability = capability;
    this.workspace = workspace;
  }
}
