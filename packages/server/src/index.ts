export { createFetchHandler } from './adapters/fetch.ts';
export type { FetchHandlerOptions } from './adapters/fetch.ts';
export { RECEIPTS_HEADER } from './adapters/receipts.ts';
export type { WireAuditReceipt } from './adapters/receipts.ts';
export { createHttpServer } from './adapters/standalone.ts';
export type { HttpServerOptions } from './adapters/standalone.ts';
export { createTrpcWireHandler } from './adapters/trpc-wire.ts';
export type { TrpcWireHandlerOptions } from './adapters/trpc-wire.ts';
export {
  AccessDeniedError,
  AuditUnavailableError,
  AuthorizationUnavailableError,
  DeclaredError,
  InputTooDeepError,
  MalformedTextError,
  TenancyKeyInInputError,
  UnverifiedPrincipalError,
} from './errors.ts';
export type { Handler, HandlerContext, Register, RegisteredDatabase, Tenant } from './handler.ts';
export { createLogDestination } from './log-destination.ts';
export type { LogDestination, LogDestinationOptions } from './log-destination.ts';
export { errorForLog, redactLogText } from './log-error.ts';
export type { ErrorLogRecord } from './log-error.ts';
export type { RouterFinding, RouterFindingCode } from './inspect-router.ts';
export type { AuditReceiptCall, Step, TransportContext } from './pipeline/deps.ts';
export type {
  ActionResult,
  AuditActor,
  AuditedResult,
  AuditIntent,
  AuditPort,
  AuditReceipt,
  AuditScope,
  AuthorizationDecision,
  AuthorizationPort,
  AuthorizationRequest,
  DatabaseScope,
  DatabaseScopeCall,
  Denial,
  DenialRecord,
  ResourceSelector,
} from './ports.ts';
export { canonicalRedactedInput, inputDigestOf, redactClassified } from './redact.ts';
export type { Digester } from './redact.ts';
export { createCovenantRuntime } from './runtime.ts';
export type { CovenantRuntime, CovenantRuntimeOptions, PipelineStepFactories } from './runtime.ts';
export type { Seal } from './seal.ts';
export { failureCodeOf, formatWireError } from './wire-error.ts';
export type { WireErrorData, WireErrorShape, WireIssue } from './wire-error.ts';
