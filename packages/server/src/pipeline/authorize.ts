import type { Procedure, ResolvedSecurity } from '@covenant/contract';
import { TRPCError } from '@trpc/server';
import { AccessDeniedError, AuthorizationUnavailableError } from '../errors.ts';
import type { AuthorizationDecision, ResourceSelector } from '../ports.ts';
import { callState, type CallState } from './call-state.ts';
import type { PipelineDeps, StepOptions, StepResult } from './deps.ts';
import { readPath } from './read-path.ts';

/**
 * Step 4: the capability, in the principal's tenant, before the input is parsed, so that a caller
 * without it learns nothing from validation errors. For a resource-scoped procedure the resource id is
 * not known yet: the check asks about the resource type (`id: null`).
 */
export function authorizeStep(deps: PipelineDeps, procedure: Procedure) {
  const security = procedure['~covenant'].security;
  const capability = requireCapability(security);
  const resource: ResourceSelector | null = security.resource ? { type: security.resource.type, id: null } : null;
  return async function authorize(opts: StepOptions): Promise<StepResult> {
    await decide(deps, callState(opts.ctx), capability, resource);
    return opts.next();
  };
}

/**
 * Step 6: the exact resource named by the (now parsed) input. Runs only for procedures whose contract
 * declares `resource`.
 */
export function authorizeResourceStep(deps: PipelineDeps, procedure: Procedure) {
  const security = procedure['~covenant'].security;
  const capability = requireCapability(security);
  if (security.resource === null) throw new TypeError('authorizeResource: the procedure declares no resource');
  const { type, id: idPath } = security.resource;
  const segments = idPath.split('.');
  return async function authorizeResource(opts: StepOptions): Promise<StepResult> {
    const id = readPath(opts.input, segments);
    // The schema makes the id a required string or number; anything else means the chain is broken.
    if (typeof id !== 'string' && typeof id !== 'number') {
      throw new TRPCError({ code: 'INTERNAL_SERVER_ERROR', message: 'resource id missing after validation' });
    }
    await decide(deps, callState(opts.ctx), capability, { type, id: String(id) });
    return opts.next();
  };
}

function requireCapability(security: ResolvedSecurity): string {
  if (security.capability === null) throw new TypeError('authorize: the procedure declares no capability');
  return security.capability;
}

async function decide(
  deps: PipelineDeps,
  state: CallState,
  capability: string,
  resource: ResourceSelector | null,
): Promise<void> {
  const principal = state.principal;
  if (principal === null) throw new TRPCError({ code: 'INTERNAL_SERVER_ERROR', message: 'authorize before authenticate' });
  let decision: AuthorizationDecision;
  try {
    decision = await deps.authorization.check({ principal, capability, resource });
  } catch (error) {
    throw new TRPCError({ code: 'SERVICE_UNAVAILABLE', cause: new AuthorizationUnavailableError({ cause: error }) });
  }
  // Fail closed: only a decision that says exactly `allowed: true` allows.
  if (decision === null || typeof decision !== 'object' || decision.allowed !== true) {
    const code = typeof decision?.code === 'string' ? decision.code : 'authz.invalid_decision';
    const denied: AuthorizationDecision = { allowed: false, code, capability, resource };
    await deps.audit
      .recordDenial({
        requestId: state.requestId,
        procedure: state.path,
        actor: { subject: principal.subject, session: principal.session },
        tenant: principal.tenant,
        decision: denied,
        at: deps.clock(),
      })
      .catch((error: unknown) => state.logger.error({ err: error }, 'could not record an authorization denial'));
    throw new TRPCError({ code: 'FORBIDDEN', cause: new AccessDeniedError(code, capability) });
  }
}
