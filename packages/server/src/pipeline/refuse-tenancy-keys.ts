import { findTenancyKey } from '@covenant/contract';
import { TRPCError } from '@trpc/server';
import { InputTooDeepError, MalformedTextError, TenancyKeyInInputError } from '../errors.ts';
import type { StepOptions, StepResult } from './deps.ts';
import { MAX_INPUT_DEPTH, rawInputProblem } from './raw-input.ts';

/**
 * Step 5a: before the schema parses the input, refuse a raw input that carries a tenancy key anywhere
 * (`orgId`, `workspace_id`, `TenantID` …). Schemas already cannot declare one; this makes the refusal
 * explicit (400, "the tenant comes from the session") instead of an "unknown key" validation error, and
 * covers records and catch-alls that could admit any key.
 *
 * First, the raw input's shape is bounded (at most MAX_INPUT_DEPTH levels, well-formed text only), so
 * this walk and the schema's run on inputs of a sane size and nothing downstream meets a lone surrogate.
 */
export function refuseTenancyKeysStep() {
  return async function refuseTenancyKeys(opts: StepOptions): Promise<StepResult> {
    const raw = await opts.getRawInput();
    const problem = rawInputProblem(raw);
    if (problem !== undefined) {
      const cause = problem.kind === 'too-deep' ? new InputTooDeepError(MAX_INPUT_DEPTH) : new MalformedTextError();
      throw new TRPCError({ code: 'BAD_REQUEST', cause });
    }
    const at = findTenancyKey(raw);
    if (at !== undefined) {
      throw new TRPCError({ code: 'BAD_REQUEST', cause: new TenancyKeyInInputError(at.join('.')) });
    }
    return opts.next();
  };
}
