import type { Procedure } from '@covenant/contract';
import { isSecurityError } from '@covenant/errors';
import { TRPCError } from '@trpc/server';
import { DeclaredError } from '../errors.ts';
import type { Handler, HandlerContext } from '../handler.ts';
import { callState } from './call-state.ts';
import type { PipelineDeps } from './deps.ts';
import { trpcCodeFor } from './trpc-codes.ts';

/**
 * Step 9 (the resolver): runs the team's handler with the verified principal's tenant. A declared error
 * keeps its status and message, a security error its status and fixed wire text; anything else the handler throws becomes an internal error whose cause
 * is logged by the first step and never reaches the wire.
 */
export function handleStep<P extends Procedure>(deps: PipelineDeps, procedure: P, handler: Handler<P>) {
  if (typeof handler !== 'function') {
    throw new TypeError(`no handler for a procedure: pass one function per procedure`);
  }
  const errors = procedure['~covenant'].errors;
  return async function handle(opts: { ctx: object; input: unknown; signal: AbortSignal | undefined }) {
    const state = callState(opts.ctx);
    const principal = state.principal;
    const ctx = {
      principal,
      tenant: principal?.tenant ?? null,
      requestId: state.requestId,
      logger: state.logger,
      signal: opts.signal,
      get db(): unknown {
        const db = state.db ?? deps.database;
        if (db === undefined) throw new TypeError('ctx.db: no database is configured (pass `database` to createCovenantRuntime)');
        return db;
      },
      fail(code: string): never {
        const declaration = Object.hasOwn(errors, code) ? errors[code] : undefined;
        if (declaration === undefined) throw new TypeError(`"${code}" is not declared by this procedure`);
        throw new DeclaredError(code, declaration.status, declaration.message);
      },
    } as HandlerContext<P>;
    try {
      return await handler({ input: opts.input as Parameters<Handler<P>>[0]['input'], ctx });
    } catch (error) {
      if (error instanceof DeclaredError && Object.hasOwn(errors, error.code) && errors[error.code]?.status === error.status) {
        throw new TRPCError({ code: trpcCodeFor(error.status), cause: error });
      }
      // A security refusal raised inside a handler (an escalation the RBAC store refuses, say) keeps its
      // status: its wire text is fixed by construction.
      if (isSecurityError(error)) throw new TRPCError({ code: trpcCodeFor(error.status), cause: error });
      throw new TRPCError({ code: 'INTERNAL_SERVER_ERROR', cause: error });
    }
  };
}
