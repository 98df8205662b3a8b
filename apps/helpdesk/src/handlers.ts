import type { RbacStore } from '@covenant/rbac';
import type { Handlers } from './generated/handlers.ts';
import { createRbacAdminHandlers } from './rbac-admin-handlers.ts';

/** The platform handlers: the tenant and subject come from the verified principal only. */
export const platformHandlers: Handlers['platform'] = {
  health: () => ({ status: 'ok' }),
  whoami: ({ ctx }) => ({
    subject: ctx.principal.subject,
    org: ctx.tenant.org,
    workspace: ctx.tenant.workspace,
    session: ctx.principal.session,
    expiresAt: ctx.principal.expiresAt,
  }),
};

/** Every handler the service serves: the platform contract, and RBAC administration over `rbac`. */
export function createHandlers(rbac: RbacStore): Handlers {
  return { platform: platformHandlers, rbac: createRbacAdminHandlers(rbac) };
}
