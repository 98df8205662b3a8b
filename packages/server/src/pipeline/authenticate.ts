import type { Procedure } from '@covenant/contract';
import { isVerifiedPrincipal, type Principal } from '@covenant/identity';
import { isSecurityError } from '@covenant/core';
import { TRPCError } from '@trpc/server';
import { UnverifiedPrincipalError } from '../errors.ts';
import { callState } from './call-state.ts';
import type { PipelineDeps, StepOptions, StepResult, TransportContext } from './deps.ts';
import { trpcCodeFor } from './trpc-codes.ts';

/**
 * Step 2: one verified principal, or 401. The principal comes from the bearer token (or, for server-side
 * callers, from a principal object the identity package itself verified); never from the body.
 *
 * On a sanctioned public procedure a missing token is fine, but a token that is present must verify: a
 * caller holding a bad token learns that, instead of being silently treated as anonymous.
 */
export function authenticateStep(deps: PipelineDeps, procedure: Procedure) {
  const required = procedure['~covenant'].security.requireAuth;
  return async function authenticate(opts: StepOptions): Promise<StepResult> {
    const state = callState(opts.ctx);
    state.principal = await resolvePrincipal(deps, opts.ctx, required);
    return opts.next();
  };
}

async function resolvePrincipal(
  deps: PipelineDeps,
  ctx: TransportContext,
  required: boolean,
): Promise<Principal | null> {
  try {
    if (ctx.principal !== undefined) {
      if (!isVerifiedPrincipal(ctx.principal)) throw new UnverifiedPrincipalError();
      // Verified once, maybe long ago (a job): still valid now — time rules and revocation — or refused.
      await deps.identity.revalidate(ctx.principal);
      return ctx.principal;
    }
    if (!required && ctx.authorization === undefined) return null;
    return await deps.identity.verifyAuthorizationHeader(ctx.authorization);
  } catch (error) {
    if (isSecurityError(error)) throw new TRPCError({ code: trpcCodeFor(error.status), cause: error });
    throw new TRPCError({ code: 'INTERNAL_SERVER_ERROR', cause: error });
  }
}
