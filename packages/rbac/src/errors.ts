import { SecurityError } from '@covenant/errors';

export type RbacErrorCode =
  | 'ROLE_NOT_FOUND'
  | 'ROLE_EXISTS'
  | 'BINDING_NOT_FOUND'
  | 'UNKNOWN_CAPABILITY'
  | 'INVALID_BINDING'
  | 'INVALID_ROLE'
  | 'TENANT_ALREADY_BOOTSTRAPPED';

/**
 * A policy change that cannot be made as asked. The codes match the errors the `rbac` platform contract
 * declares, so the admin handlers pass them to the client as they are.
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
