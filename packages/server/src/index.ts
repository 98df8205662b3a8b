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
  DeclaredError,
  InputTooDeepError,
  MalformedTextError,
  TenancyKeyInInputError,
  UnverifiedPrincipalError,
} from './errors.ts';
export type { Handler, HandlerContext, Register, RegisteredDatabase, Tenant } from './handler.ts';
export { createLogDestination } from './log-destination.ts';
export type { LogDestination, LogDestinationOptions } from './log-destination.ts';
export type { RouterFinding, RouterFindingCode } from './inspect-router.ts';
export type { AuditReceiptCall, Step, TransportContext } from './pipeline/deps.ts';
export { createCovenantRuntime } from './runtime.ts';
export type { CovenantRuntime, CovenantRuntimeOptions, PipelineStepFactories } from './runtime.ts';
export type { Seal } from './seal.ts';
export { failureCodeOf, formatWireError } from './wire-error.ts';
export type { WireErrorData, WireErrorShape, WireIssue } from './wire-error.ts';
