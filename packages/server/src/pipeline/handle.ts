import type { Procedure } from '@covenant/contract';
import { isSecurityError } from '@covenant/core';
import { TRPCError } from '@trpc/server';
import { DeclaredError } from '../errors.ts';
import type { Handler, HandlerContext } from '../handler.ts';
import { callState } from './call-state.ts';
import type { PipelineDeps } from './deps.ts';
import { trpcCodeFor } from './trpc-codes.ts';

/**
 * Step 9 (the resolver): runs the team's handler with the verified principal's tenant, inside the
 * runtime's `databaseScope` when one is configured (its `ctx.db` is then the scope's handle). A declared error
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
    const tenant = principal?.tenant ?? null;
    // The database scope's handle while the handler runs inside it; `ended` once the scope is left.
    let scoped: { readonly db: unknown; readonly ended?: true } | null = null;
    const ctx = {
      principal,
      tenant,
      requestId: state.requestId,
      logger: state.logger,
      signal: opts.signal,
      get db(): unknown {
        if (scoped?.ended === true) throw new TypeError("ctx.db: used after the handler's database scope ended");
        const db = scoped === null ? (state.db ?? deps.database) : scoped.db;
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
      const run = () => handler({ input: opts.input as Parameters<Handler<P>>[0]['input'], ctx });
      const scope = deps.databaseScope;
      if (scope === undefined) return await run();
      const audited = state.db !== undefined;
      return await scope({ tenant, path: state.path, audited, db: audited ? state.db : deps.database }, async (db) => {
        scoped = { db };
        try {
          return await run();
        } finally {
          // A handle kept past the scope (a late promise) must not outlive it with the scope's rights.
          scoped = { db: undefined, ended: true };
        }
      });
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
