import { defineContract, query } from '@covenant/contract';
import * as z from 'zod';

/**
 * The framework's own platform API. Later issues add rbac, ledger, consent and break-glass contracts
 * beside this one; they are contracts like any other, served by the same generated pipeline.
 */
export const platform = defineContract('platform', {
  health: query({
    summary: 'Liveness for load balancers and orchestrators; reveals nothing about the service.',
    input: z.strictObject({}),
    output: z.object({ status: z.literal('ok') }),
    requireAuth: false,
  }),
  whoami: query({
    summary: 'The verified principal of the caller, as the server sees it.',
    input: z.strictObject({}),
    output: z.object({
      subject: z.string().meta({ pii: 'identifier' }),
      org: z.string(),
      workspace: z.string().nullable(),
      session: z.string().nullable(),
      expiresAt: z.number().int(),
    }),
    anyPrincipal: true,
  }),
});
