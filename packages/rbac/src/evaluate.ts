import type { AuthorizationDecision, ResourceSelector } from '@covenant/core';

/** One capability a subject holds or is denied through one binding, as loaded for a check. */
export interface Grant {
  readonly bindingId: string;
  readonly capability: string;
  readonly effect: 'allow' | 'deny';
  readonly resourceType: string | null;
  readonly resourceId: string | null;
}

/**
 * The decision for one capability over a subject's grants (already filtered to its org, workspace and
 * unexpired bindings). Rules, in Cedar's spirit:
 * - default deny: no matching allow, no access;
 * - deny wins: any matching deny refuses, whatever allows exist;
 * - order-independent: the grants are a set; the reported `matched` binding is the smallest id.
 *
 * A grant without a resource covers the tenant and every resource in it. A resource grant covers only
 * checks about that resource (`ticket:t1`) or its whole type (`ticket:*`). At the entry check of a
 * resource-scoped procedure the id is not known yet (`id: null`): an allow on any resource of the type
 * lets the call go on to the exact check; a deny applies there only if it covers the whole type.
 */
export function evaluate(
  grants: ReadonlyArray<Grant>,
  capability: string,
  resource: ResourceSelector | null,
): AuthorizationDecision {
  let allow: string | null = null;
  let deny: string | null = null;
  for (const grant of grants) {
    if (grant.capability !== capability || !applies(grant, resource)) continue;
    if (grant.effect === 'deny') deny = smallest(deny, grant.bindingId);
    else allow = smallest(allow, grant.bindingId);
  }
  if (deny !== null) return { kind: 'authorization', allowed: false, code: 'authz.denied_by_binding', capability, resource };
  if (allow !== null) return { kind: 'authorization', allowed: true, code: 'authz.allowed', capability, resource, matched: allow };
  return { kind: 'authorization', allowed: false, code: 'authz.missing_capability', capability, resource };
}

function smallest(current: string | null, candidate: string): string {
  return current === null || candidate < current ? candidate : current;
}

function applies(grant: Grant, resource: ResourceSelector | null): boolean {
  if (grant.resourceType === null) return true;
  if (resource === null || grant.resourceType !== resource.type) return false;
  if (grant.resourceId === '*') return true;
  if (resource.id === null) return grant.effect === 'allow';
  return grant.resourceId === resource.id;
}
