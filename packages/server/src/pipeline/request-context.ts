import { errorForLog } from '@covenant/core';
import { describeFailure, rememberRequestId } from '../wire-error.ts';
import { CALL_STATE, type CallState } from './call-state.ts';
import type { PipelineDeps, StepOptions, StepResult } from './deps.ts';

/**
 * Step 1: a request id, the clock reading and a logger bound to both. On the way back every failure of
 * the chain is logged here, once, and tagged with the request id the wire error will carry: refusals by
 * their code, faults with their cause as `errorForLog` describes it (class, stable code, the database's
 * names, a redacted message and the stack's frames; never the cause's other properties, which may hold
 * requests, credentials and personal data).
 */
export function requestContextStep(deps: PipelineDeps, path: string) {
  return async function requestContext(opts: StepOptions): Promise<StepResult> {
    const requestId = deps.requestId();
    const state: CallState = {
      requestId,
      path,
      logger: deps.logger.child({ requestId, procedure: path }),
      startedAt: deps.clock.now(),
      principal: null,
      db: undefined,
      receipt: null,
    };
    const result = await opts.next({ ctx: { [CALL_STATE]: state } });
    if (result.ok) return result;
    const error = rememberRequestId(result.error, requestId);
    const failure = describeFailure(error);
    if (failure.level === 'error') {
      state.logger.error({ error: errorForLog(error.cause ?? error), code: failure.code }, 'call failed');
    } else {
      state.logger[failure.level]({ code: failure.code }, 'call refused');
    }
    return error === result.error ? result : { ...result, error };
  };
}
