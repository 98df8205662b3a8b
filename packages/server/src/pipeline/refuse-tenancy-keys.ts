import { findTenancyKey } from '@covenant/contract';
import { TRPCError } from '@trpc/server';
import { TenancyKeyInInputError } from '../errors.ts';
import type { StepOptions, StepResult } from './deps.ts';

/**
 * Step 5a: before the schema parses the input, refuse a raw input that carries a tenancy key anywhere
 * (`orgId`, `workspace_id`, `TenantID` …). Schemas already cannot declare one; this makes the refusal
 * explicit (400, "the tenant comes from the session") instead of an "unknown key" validation error, and
 * covers records and catch-alls that could admit any key.
 */
export function refuseTenancyKeysStep() {
  return async function refuseTenancyKeys(opts: StepOptions): Promise<StepResult> {
    const at = findTenancyKey(await opts.getRawInput());
    if (at !== undefined) {
      throw new TRPCError({ code: 'BAD_REQUEST', cause: new TenancyKeyInInputError(at.join('.')) });
    }
    return opts.next();
  };
}
