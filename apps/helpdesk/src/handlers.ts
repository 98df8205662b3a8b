import type { Clock } from '@covenant/core';
import type { RevocationStore } from '@covenant/identity/revocation-store';
import type { LedgerStore } from '@covenant/ledger';
import type { RbacStore } from '@covenant/rbac';
import type { Handlers } from './generated/handlers.ts';
import { createCommentHandlers } from './helpdesk/comments.ts';
import { createCustomerHandlers } from './helpdesk/customers.ts';
import { createTicketHandlers } from './helpdesk/tickets.ts';
import { createLedgerHandlers } from './ledger-handlers.ts';
import { createRbacAdminHandlers } from './rbac-admin-handlers.ts';
import { createSessionHandlers } from './session-handlers.ts';

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

/**
 * Every handler the service serves: the platform contracts (health and whoami, RBAC administration, the
 * ledger, session revocation) and the helpdesk (customers, tickets, comments).
 */
export function createHandlers(deps: {
  readonly rbac: RbacStore;
  readonly ledger: LedgerStore;
  readonly revocations: RevocationStore;
  readonly clock: Clock
}): Handlers {
  return {
    platform: platformHandlers,
    rbac: createRbacAdminHandlers(deps.rbac),
    ledger: createLedgerHandlers(deps.ledger),
    sessions: createSessionHandlers(deps.revocations),
    customers: createCustomerHandlers(deps.clock),
    tickets: createTicketHandlers(deps.clock),
    comments: createCommentHandlers(deps.clock),
  };
}
