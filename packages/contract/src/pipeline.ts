import type { ResolvedSecurity } from './procedure.ts';

/**
 * The steps of a procedure's chain, in the order DESIGN.md fixes. `input` and `output` are the schema
 * parsers; the others are Covenant's middlewares. A step that cannot apply to a procedure is left out
 * (a public procedure has no capability to authorize), so the generated chain reads as its policy.
 */
export type PipelineStep =
  | 'requestContext'
  | 'authenticate'
  | 'authorize'
  | 'refuseTenancyKeys'
  | 'input'
  | 'authorizeAction'
  | 'audit'
  | 'output'
  | 'handle';

/**
 * The chain a procedure must have. Codegen emits exactly this; the server refuses a router whose
 * procedures differ from it (a step removed, reordered, or a middleware added by hand).
 *
 * `authenticate` is always present: on a public procedure it accepts a missing token but still refuses a
 * bad one. `authorizeAction` is always present too: it takes the decision that lets the action run once the
 * input has arrived (a body may come long after the headers were authorized) — the principal still valid
 * at that instant and, for an authenticated procedure with a capability, the capability still held, on the
 * exact resource the parsed input names when the contract declares one.
 */
export function pipelineFor(security: ResolvedSecurity): ReadonlyArray<PipelineStep> {
  const steps: PipelineStep[] = ['requestContext', 'authenticate'];
  if (security.requireAuth && security.capability !== null) steps.push('authorize');
  steps.push('refuseTenancyKeys', 'input', 'authorizeAction');
  if (security.audit) steps.push('audit');
  steps.push('output', 'handle');
  return steps;
}
