import type { Principal } from '@covenant/identity';
import { TRPCError } from '@trpc/server';
import type { Logger } from 'pino';
import type { AuditReceipt } from '@covenant/core';

/**
 * Per-call state, created by the first step and filled in by the next ones. Kept in one object under a
 * single context key so that later steps and the handler read what earlier steps established, and
 * nothing a transport or caller put in the context can stand in for it.
 */
export interface CallState {
  readonly requestId: string;
  readonly path: string;
  readonly logger: Logger;
  readonly startedAt: Date;
  principal: Principal | null;
  /** Set by the audit step to the audit port's transaction; the handler's `ctx.db` when present. */
  db: unknown;
  /**
   * Set by the audit step once an audited call's outcome is durable: its entries and the signed checkpoint
   * covering them (`null` before, for unaudited calls, and with a port that keeps no signed log). Also
   * handed to the transport's `onAuditReceipt` (see `TransportContext`).
   */
  receipt: AuditReceipt | null;
}

export const CALL_STATE = '~covenant' as const;

export interface CallContext {
  readonly [CALL_STATE]?: CallState;
}

export function callState(ctx: unknown): CallState {
  const state = (ctx as CallContext)[CALL_STATE];
  // Only a chain built out of order could get here; refuse rather than run without the earlier checks.
  if (state === undefined) throw new TRPCError({ code: 'INTERNAL_SERVER_ERROR', message: 'pipeline state missing' });
  return state;
}
