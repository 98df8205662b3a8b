import type { RevocationStore } from '@covenant/identity/revocation-store';
import type { Handlers } from './generated/handlers.ts';

/**
 * The `sessions` platform contract over the revocation store the service's verifier asks on every call.
 *
 * - The revocation is made in the verified caller's tenant (`ctx.tenant`: its org, and its workspace when
 *   its session is limited to one), so it applies to that tenant's tokens only: another org's session
 *   with the same `sid` is untouched, whatever the caller sends.
 * - It is written on `ctx.db`, the audited call's ledger transaction: the revocation, its ledger entry
 *   (`recordRevocationsOn`) and the call's ok outcome commit together, or not at all.
 *
 * @example
 * ```ts
 * const handlers: Handlers = { ...others, sessions: createSessionHandlers(revocations) };
 * ```
 */
export function createSessionHandlers(revocations: RevocationStore): Handlers['sessions'] {
  return {
    revoke: async ({ input, ctx }) => {
      const revocation = await revocations.bind(ctx.db).revokeSession({
        org: ctx.tenant.org,
        workspace: ctx.tenant.workspace,
        session: input.session,
        revokedBy: `user:${ctx.principal.subject}`,
        reason: input.reason,
        requestId: ctx.requestId,
      });
      return { session: revocation.value, workspace: revocation.workspace, revokedAt: revocation.revokedAt };
    },
  };
}
