export { ACTION_THREW_CODE, AuditUnavailableError } from './audit.ts';
export type {
  ActionResult,
  AuditActor,
  AuditedResult,
  AuditIntent,
  AuditPort,
  AuditReceipt,
  AuditScope,
  Denial,
  DenialRecord,
  Digester,
  PrincipalRefusedCode,
} from './audit.ts';
export { AuthorizationUnavailableError } from './authorization.ts';
export type {
  AuthorizationAllowedCode,
  AuthorizationDecision,
  AuthorizationDeniedCode,
  AuthorizationPort,
  AuthorizationRequest,
  DeclaredSecurity,
  ProcedureContext,
  ResourceSelector,
} from './authorization.ts';
export { isClock, systemClock } from './clock.ts';
export type { Clock } from './clock.ts';
export type { DatabaseScope, DatabaseScopeCall } from './database-scope.ts';
export type { Decision, DecisionRecord } from './decision.ts';
export { errorForLog, redactLogText } from './log-error.ts';
export type { ErrorLogRecord } from './log-error.ts';
export type { Principal, Tenant } from './principal.ts';
export { SecurityError, isSecurityError } from './security-error.ts';
export type { SecurityStatus } from './security-error.ts';
