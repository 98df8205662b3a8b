import { defineContract, query } from '{{import:contract}}';
import * as z from 'zod';

/** Liveness for load balancers and orchestrators. Public, so it is sanctioned in sanctions.json. */
export const health = defineContract('health', {
  check: query({
    summary: 'Answers while the service is up; reveals nothing about it.',
    input: z.strictObject({}),
    output: z.object({ status: z.literal('ok') }),
    requireAuth: false,
  }),
});
