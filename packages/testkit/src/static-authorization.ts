import type { AuthorizationDecision, AuthorizationPort, AuthorizationRequest, ProcedureContext } from '@covenant/core';

/** `org/subject` → capabilities; a capability may be limited to resources (`tickets.read@ticket:t1`). */
export type StaticGrants = Readonly<Record<string, ReadonlyArray<string>>>;

/**
 * An authorization port for tests with a fixed grant table keyed by `org/subject`: default deny, exact
 * capability names, tenant-bound (a grant in one org never applies to a principal of another).
 * `tickets.read@ticket:t1` grants on one resource only; a plain grant covers every resource.
 * The RBAC package provides the real, persisted implementation.
 *
 * @example
 * ```ts
 * const authorization = createStaticAuthorization({ 'org_a/alice': ['tickets.read', 'tickets.write'] });
 * ```
 */
export function createStaticAuthorization(grants: StaticGrants): AuthorizationPort & {
  readonly decisions: ReadonlyArray<AuthorizationDecision>;
} {
  const decisions: AuthorizationDecision[] = [];
  return {
    decisions,
    check(request: AuthorizationRequest): AuthorizationDecision {
      const { principal, capability, resource } = request;
      const held = grants[`${principal.tenant.org}/${principal.subject}`] ?? [];
      const matched = held.find((grant) => {
        const [name, scope] = grant.split('@') as [string, string | undefined];
        if (name !== capability) return false;
        if (scope === undefined) return true;
        if (resource === null) return false;
        const [type, id] = scope.split(':');
        // At the entry check the id is unknown: a grant on some resource of the type may apply.
        return type === resource.type && (resource.id === null || id === resource.id);
      });
      const decision: AuthorizationDecision =
        matched === undefined
          ? { kind: 'authorization', allowed: false, code: 'authz.missing_capability', capability, resource }
          : { kind: 'authorization', allowed: true, code: 'authz.allowed', capability, resource, matched };
      decisions.push(decision);
      return decision;
    },
  };
}

/**
 * The procedure context of an authorization request made outside the pipeline (a test asking the port
 * directly): a mutation at `test.<capability>` that declares `capability`.
 */
export function procedureContextFor(capability: string, resource: { readonly type: string; readonly id: string } | null = null): ProcedureContext {
  return Object.freeze({
    path: `test.${capability}`,
    kind: 'mutation',
    security: Object.freeze({ requireAuth: true, capability, resource, audit: true }),
  });
}
