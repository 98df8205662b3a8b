import type { Handlers } from './generated/handlers.ts';

/** The platform handlers: the tenant and subject come from the verified principal only. */
export const handlers: Handlers = {
  platform: {
    health: () => ({ status: 'ok' }),
    whoami: ({ ctx }) => ({
      subject: ctx.principal.subject,
      org: ctx.tenant.org,
      workspace: ctx.tenant.workspace,
      session: ctx.principal.session,
      expiresAt: ctx.principal.expiresAt,
    }),
  },
};
