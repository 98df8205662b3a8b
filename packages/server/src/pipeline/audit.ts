import { canonicalRedactedInput, redactClassified, walkSchema, type Procedure } from '@covenant/contract';
import { TRPCError } from '@trpc/server';
import { AuditUnavailableError, type ActionResult, type AuditIntent, type AuditReceipt, type AuditedResult } from '@covenant/core';
import { failureCodeOf } from '../wire-error.ts';
import { callState, type CallState } from './call-state.ts';
import type { PipelineDeps, StepOptions, StepResult, TransportContext } from './deps.ts';
import { readPath } from './read-path.ts';

/**
 * Step 7: audit before action. The intent is durable before the rest of the chain (output validation
 * and the handler) runs; the audit port runs that rest as one action and records its outcome from tRPC's
 * result flag, because `next()` reports failures as `{ ok: false }` and never throws. Once the outcome is
 * durable, the call's receipt is kept in the call state (`receipt`) and handed to the transport's
 * `onAuditReceipt`.
 */
export function auditStep(deps: PipelineDeps, procedure: Procedure) {
  const def = procedure['~covenant'];
  const classified = walkSchema(def.input, 'input').classified;
  const resourcePath = def.security.resource?.id.split('.') ?? null;
  return async function audit(opts: StepOptions): Promise<StepResult> {
    const state = callState(opts.ctx);
    const principal = state.principal;
    const intent: AuditIntent = {
      requestId: state.requestId,
      procedure: state.path,
      kind: def.kind,
      actor: principal && { subject: principal.subject, session: principal.session },
      tenant: principal?.tenant ?? null,
      resource:
        def.security.resource && resourcePath
          ? { type: def.security.resource.type, id: String(readPath(opts.input, resourcePath)) }
          : null,
      canonicalInput: canonicalRedactedInput(redactClassified(opts.input, classified)),
      at: deps.clock.now(),
    };
    let audited: AuditedResult<ActionResult & { readonly step: StepResult }>;
    try {
      audited = await deps.audit.audited(intent, async (scope) => {
        // The handler's ctx.db: the port's transaction, so its writes commit or roll back with the outcome.
        if (scope?.db !== undefined) state.db = scope.db;
        const step = await opts.next();
        // The port sees the flag and a stable code, never tRPC's error (its message stays in the server log).
        return step.ok ? { ok: true, code: null, step } : { ok: false, code: failureCodeOf(step) ?? 'ERR_INTERNAL', step };
      });
    } catch (error) {
      const cause = error instanceof AuditUnavailableError ? error : new AuditUnavailableError({ cause: error });
      throw new TRPCError({ code: 'SERVICE_UNAVAILABLE', cause });
    }
    state.receipt = audited.receipt;
    if (audited.receipt !== null) handReceipt(opts.ctx as TransportContext, state, audited.receipt, opts.batchIndex);
    return audited.result.step;
  };
}

/** To the transport's receipt sink, if it set one. The outcome is durable: a failing sink cannot undo the call. */
function handReceipt(ctx: TransportContext, state: CallState, receipt: AuditReceipt, batchIndex: number): void {
  const sink = ctx.onAuditReceipt;
  if (sink === undefined) return;
  try {
    sink(receipt, { requestId: state.requestId, path: state.path, batchIndex });
  } catch (error) {
    state.logger.warn({ errorClass: (error as Error)?.name ?? typeof error }, 'the audit receipt sink failed; the call stands');
  }
}
