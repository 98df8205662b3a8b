import { walkSchema, type Procedure } from '@covenant/contract';
import { TRPCError } from '@trpc/server';
import { AuditUnavailableError } from '../errors.ts';
import type { AuditIntent } from '../ports.ts';
import { digestOfRedacted, redactClassified } from '../redact.ts';
import { callState } from './call-state.ts';
import type { PipelineDeps, StepOptions, StepResult } from './deps.ts';
import { readPath } from './read-path.ts';

/**
 * Step 7: audit before action. The intent is durable before the rest of the chain (output validation
 * and the handler) runs; the audit port runs that rest as one action and records its outcome from tRPC's
 * result flag, because `next()` reports failures as `{ ok: false }` and never throws.
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
      inputDigest: digestOfRedacted(redactClassified(opts.input, classified)),
      at: deps.clock(),
    };
    try {
      return await deps.audit.audited(intent, (scope) => {
        // The handler's ctx.db: the port's transaction, so its writes commit or roll back with the outcome.
        if (scope?.db !== undefined) state.db = scope.db;
        return opts.next();
      });
    } catch (error) {
      const cause = error instanceof AuditUnavailableError ? error : new AuditUnavailableError({ cause: error });
      throw new TRPCError({ code: 'SERVICE_UNAVAILABLE', cause });
    }
  };
}
