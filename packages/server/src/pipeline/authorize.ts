import type { Procedure, ResolvedSecurity } from '@covenant/contract';
import { isIdentityError } from '@covenant/identity';
import { TRPCError } from '@trpc/server';
import {
  AuthorizationUnavailableError,
  errorForLog,
  type AuthorizationDecision,
  type AuthorizationDeniedCode,
  type Denial,
  type Principal,
  type ProcedureContext,
  type ResourceSelector,
} from '@covenant/core';
import { AccessDeniedError } from '../errors.ts';
import { callState, type CallState } from './call-state.ts';
import type { PipelineDeps, StepOptions, StepResult } from './deps.ts';
import { readPath } from './read-path.ts';
import { trpcCodeFor } from './trpc-codes.ts';

/**
 * The entry check: the capability, in the principal's tenant, before the input is parsed, so that a
 * caller without it learns nothing from validation errors. For a resource-scoped procedure the resource
 * id is not known yet: the check asks about the resource type (`id: null`).
 *
 * It runs when the headers have arrived; the body may come much later. It is not what lets the action
 * run: `authorizeAction` decides that, once the input is there.
 */
export function authorizeStep(deps: PipelineDeps, procedure: Procedure) {
  const security = procedure['~covenant'].security;
  const capability = requireCapability(security);
  const resource: ResourceSelector | null = security.resource ? { type: security.resource.type, id: null } : null;
  const contextAt = procedureContexts(procedure);
  return async function authorize(opts: StepOptions): Promise<StepResult> {
    const state = callState(opts.ctx);
    await decide(deps, state, contextAt(state.path), capability, resource);
    return opts.next();
  };
}

/**
 * The decision that lets the action run, taken once the input has arrived and been parsed — right
 * before the audit intent, or the handler of an unaudited call. A caller who sends the headers and holds
 * the body back must not act on rights it lost meanwhile:
 * 1. the principal (if any) is still valid at the current clock: `exp`, `nbf`, token age and revocation,
 *    asked again of the verifier (`TokenVerifier.revalidate`); a principal that no longer is gets 401 and
 *    a denial record;
 * 2. an authenticated procedure's capability is checked again (the authorization port's freshness rule
 *    makes that one cached read), on the exact resource the parsed input names when the contract
 *    declares one (`resource`); denied is 403 with a denial record.
 */
export function authorizeActionStep(deps: PipelineDeps, procedure: Procedure) {
  const security = procedure['~covenant'].security;
  const capability = security.requireAuth ? security.capability : null;
  const resource = security.requireAuth ? security.resource : null;
  const segments = resource === null ? null : resource.id.split('.');
  const contextAt = procedureContexts(procedure);
  return async function authorizeAction(opts: StepOptions): Promise<StepResult> {
    const state = callState(opts.ctx);
    const principal = state.principal;
    // The authenticate step ran before: an authenticated procedure always has a principal here.
    if (principal === null && security.requireAuth) {
      throw new TRPCError({ code: 'INTERNAL_SERVER_ERROR', message: 'authorizeAction before authenticate' });
    }
    let selector: ResourceSelector | null = null;
    if (resource !== null && segments !== null) {
      const id = readPath(opts.input, segments);
      // The schema makes the id a required string or number; anything else means the chain is broken.
      if (typeof id !== 'string' && typeof id !== 'number') {
        throw new TRPCError({ code: 'INTERNAL_SERVER_ERROR', message: 'resource id missing after validation' });
      }
      selector = { type: resource.type, id: String(id) };
    }
    if (principal !== null) await revalidate(deps, state, principal, capability, selector);
    if (capability !== null) await decide(deps, state, contextAt(state.path), capability, selector);
    return opts.next();
  };
}

/**
 * What the authorization port is told about the procedure (a decorator such as break-glass decides on it),
 * made once per path it is served at, frozen: a port cannot change what the next one sees.
 */
function procedureContexts(procedure: Procedure): (path: string) => ProcedureContext {
  const def = procedure['~covenant'];
  const { requireAuth, capability, resource, audit } = def.security;
  const security = Object.freeze({ requireAuth, capability, resource: resource === null ? null : Object.freeze({ type: resource.type, id: resource.id }), audit });
  let last: ProcedureContext | null = null;
  return (path) => {
    if (last?.path !== path) last = Object.freeze({ path, kind: def.kind, security });
    return last;
  };
}

function requireCapability(security: ResolvedSecurity): string {
  if (security.capability === null) throw new TypeError('authorize: the procedure declares no capability');
  return security.capability;
}

/** The principal at the current clock; a refusal (401) is recorded like an authorization denial. */
async function revalidate(
  deps: PipelineDeps,
  state: CallState,
  principal: Principal,
  capability: string | null,
  resource: ResourceSelector | null,
): Promise<void> {
  try {
    await deps.identity.revalidate(principal);
  } catch (error) {
    if (isIdentityError(error)) {
      if (error.status === 401) await recordDenial(deps, state, principal, { allowed: false, code: error.code, capability, resource });
      throw new TRPCError({ code: trpcCodeFor(error.status), cause: error });
    }
    throw new TRPCError({ code: 'INTERNAL_SERVER_ERROR', cause: error });
  }
}

async function decide(
  deps: PipelineDeps,
  state: CallState,
  procedure: ProcedureContext,
  capability: string,
  resource: ResourceSelector | null,
): Promise<void> {
  const principal = state.principal;
  if (principal === null) throw new TRPCError({ code: 'INTERNAL_SERVER_ERROR', message: 'authorize before authenticate' });
  let decision: AuthorizationDecision;
  try {
    decision = await deps.authorization.check({ principal, capability, resource, procedure });
  } catch (error) {
    throw new TRPCError({ code: 'SERVICE_UNAVAILABLE', cause: new AuthorizationUnavailableError({ cause: error }) });
  }
  // Fail closed: only a decision that says exactly `allowed: true` allows.
  if (decision === null || typeof decision !== 'object' || decision.allowed !== true) {
    // A code outside the port's vocabulary is recorded as what it is: not a decision.
    const code = decision?.allowed === false && isDeniedCode(decision.code) ? decision.code : 'authz.invalid_decision';
    await recordDenial(deps, state, principal, { allowed: false, code, capability, resource });
    throw new TRPCError({ code: 'FORBIDDEN', cause: new AccessDeniedError(code, capability) });
  }
}

/** Best effort: the call is refused whether or not the record is written (a failure is logged). */
async function recordDenial(deps: PipelineDeps, state: CallState, principal: Principal, denied: Denial): Promise<void> {
  await deps.audit
    .recordDenial({
      requestId: state.requestId,
      procedure: state.path,
      actor: { subject: principal.subject, session: principal.session },
      tenant: principal.tenant,
      decision: denied,
      at: deps.clock.now(),
    })
    .catch((error: unknown) => state.logger.error({ error: errorForLog(error) }, 'could not record an authorization denial'));
}

const DENIED_CODES: ReadonlySet<string> = new Set<AuthorizationDeniedCode>([
  'authz.missing_capability',
  'authz.denied_by_binding',
  'authz.unknown_capability',
  'authz.invalid_capability',
  'authz.invalid_decision',
]);

function isDeniedCode(code: unknown): code is AuthorizationDeniedCode {
  return typeof code === 'string' && DENIED_CODES.has(code);
}
