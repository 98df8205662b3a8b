import type { TokenVerifier } from '@covenant/identity';
import type { Principal } from '@covenant/identity';
import type { TRPCMiddlewareFunction } from '@trpc/server';
import type { Logger } from 'pino';
import type { AuditPort, AuditReceipt, AuthorizationPort, DatabaseScope, Clock } from '@covenant/core';
import type { Seal } from '../seal.ts';

/** What the steps need from the assembled server. Validated once, in `createCovenantRuntime`. */
export interface PipelineDeps {
  readonly identity: TokenVerifier;
  readonly authorization: AuthorizationPort;
  readonly audit: AuditPort;
  readonly logger: Logger;
  readonly clock: Clock
  readonly requestId: () => string;
  /** `ctx.db` of procedures the audit port does not scope (queries); `undefined` when not configured. */
  readonly database: unknown;
  /** Wraps every handler call in a tenant-scoped database scope; `undefined`: `ctx.db` as is. */
  readonly databaseScope: DatabaseScope | undefined;
}

/**
 * What a transport hands the pipeline: the Authorization header as received, or, for server-side
 * callers, a principal the identity package verified. Nothing else from a request is read.
 */
export interface TransportContext {
  readonly authorization?: string | undefined;
  readonly principal?: Principal | undefined;
  /**
   * Where the receipt of each audited call goes once its outcome is durable (server code only: an adapter
   * or `createCaller` sets it, never a request): a transport puts it in a response header, a job keeps it.
   * Called once per audited call, before the call's result is returned; what it throws is logged, and
   * the call's result stands.
   */
  readonly onAuditReceipt?: ((receipt: AuditReceipt, call: AuditReceiptCall) => void) | undefined;
}

/** Which call a receipt is for (a batch request carries several). */
export interface AuditReceiptCall {
  readonly requestId: string;
  readonly path: string;
  /** The call's index in its batch (0 for a call that is not batched). */
  readonly batchIndex: number;
}

/** A pipeline step as tRPC sees it. Steps keep their state in the call state, not in typed context. */
export type Step = TRPCMiddlewareFunction<TransportContext, Seal, object, object, unknown>;
export type StepOptions = Parameters<Step>[0];
export type StepResult = Awaited<ReturnType<Step>>;
