import type { ResourceScope } from './model.ts';

/** One capability the actor holds or is denied, with everything that bounds it. */
export interface ActorGrant {
  readonly capability: string;
  readonly effect: 'allow' | 'deny';
  readonly workspace: string | null;
  readonly resourceType: string | null;
  readonly resourceId: string | null;
  /** Milliseconds since the epoch, or null for no expiry. */
  readonly expiresAt: number | null;
}

/** What a change would hand out: capabilities, where, and until when. */
export interface GrantScope {
  readonly workspace: string | null;
  readonly resource: ResourceScope | null;
  /** Milliseconds since the epoch, or null for no expiry. */
  readonly expiresAt: number | null;
}

/**
 * The capabilities an actor may not hand out in `scope`: "no one grants more than they hold". The actor
 * must hold each capability everywhere the grant reaches and for as long as it lasts:
 * - an unexpired allow that covers the whole scope (its workspace, its resources) and does not expire
 *   before the grant does;
 * - and no deny of its own anywhere inside the scope (a deny in one workspace or on one resource is a
 *   hole in what the actor holds, which an org-wide grant would paper over).
 *
 * `grants` are the actor's unexpired grants in the org, in every workspace.
 */
export function ungrantable(grants: ReadonlyArray<ActorGrant>, capabilities: ReadonlyArray<string>, scope: GrantScope): string[] {
  return capabilities.filter((capability) => {
    const own = grants.filter((g) => g.capability === capability);
    const covered = own.some((g) => g.effect === 'allow' && covers(g, scope) && outlasts(g.expiresAt, scope.expiresAt));
    const holed = own.some((g) => g.effect === 'deny' && overlaps(g, scope));
    return !covered || holed;
  });
}

/** Does the grant `g` apply to every point of `scope`? */
function covers(g: ActorGrant, scope: GrantScope): boolean {
  if (g.workspace !== null && g.workspace !== scope.workspace) return false;
  if (g.resourceType === null) return true;
  if (scope.resource === null || scope.resource.type !== g.resourceType) return false;
  return g.resourceId === '*' || (scope.resource.id !== '*' && g.resourceId === scope.resource.id);
}

/** Does the grant `g` apply to some point of `scope`? */
function overlaps(g: ActorGrant, scope: GrantScope): boolean {
  if (g.workspace !== null && scope.workspace !== null && g.workspace !== scope.workspace) return false;
  if (g.resourceType === null || scope.resource === null) return true;
  if (g.resourceType !== scope.resource.type) return false;
  return g.resourceId === '*' || scope.resource.id === '*' || g.resourceId === scope.resource.id;
}

function outlasts(held: number | null, granted: number | null): boolean {
  if (held === null) return true;
  return granted !== null && held >= granted;
}

/**
 * Does an actor holding `grants` manage `workspace` (`null`: the whole org) with `capability` at `now`? It
 * must hold `capability` there now — an unexpired allow without a resource, org-wide or in that workspace —
 * with no deny of it anywhere inside (a deny of the managing capability in one workspace means the actor
 * does not manage the org as a whole). The session's own bound (a token naming a workspace acts there
 * only) is applied by the caller.
 */
export function manages(grants: ReadonlyArray<ActorGrant>, capability: string, workspace: string | null, now: number): boolean {
  return ungrantable(grants, [capability], { workspace, resource: null, expiresAt: now }).length === 0;
}

/** One capability a subject holds or is denied, with the subject (see `canManageForGood`). */
export interface SubjectGrant extends ActorGrant {
  readonly subject: string;
}

/**
 * Where `grants` (one subject's) manage with `capability`: `[null]` when org-wide, else the workspaces it
 * manages (see `manages`), none when it manages nowhere.
 */
export function managedScopes(grants: ReadonlyArray<ActorGrant>, capability: string, now: number): Array<string | null> {
  if (manages(grants, capability, null, now)) return [null];
  const workspaces = new Set<string>();
  for (const g of grants) if (g.capability === capability && g.effect === 'allow' && g.workspace !== null && g.resourceType === null) workspaces.add(g.workspace);
  return [...workspaces].filter((workspace) => manages(grants, capability, workspace, now));
}

/**
 * Is there a subject among `grants` (unexpired grants of one org) who holds every one of `capabilities`
 * org-wide, for good (no expiry), with no deny of any of them anywhere: a full administrator of the org?
 */
export function administeredForGood(grants: ReadonlyArray<SubjectGrant>, capabilities: ReadonlyArray<string>): boolean {
  const bySubject = new Map<string, SubjectGrant[]>();
  for (const grant of grants) {
    const own = bySubject.get(grant.subject);
    if (own === undefined) bySubject.set(grant.subject, [grant]);
    else own.push(grant);
  }
  for (const own of bySubject.values()) {
    if (ungrantable(own, capabilities, { workspace: null, resource: null, expiresAt: null }).length === 0) return true;
  }
  return false;
}

/**
 * Is there a subject among `grants` (unexpired grants of `capability` in one org) that holds it org-wide
 * and for good: an allow without workspace, resource or expiry, and no deny of it anywhere? Expiring
 * allows do not count: time alone, with no change to refuse, would take them away, and the org would be
 * locked out by the clock.
 */
export function canManageForGood(grants: ReadonlyArray<SubjectGrant>, capability: string): boolean {
  const bySubject = new Map<string, SubjectGrant[]>();
  for (const grant of grants) {
    if (grant.capability !== capability) continue;
    const own = bySubject.get(grant.subject);
    if (own === undefined) bySubject.set(grant.subject, [grant]);
    else own.push(grant);
  }
  for (const own of bySubject.values()) {
    if (ungrantable(own, [capability], { workspace: null, resource: null, expiresAt: null }).length === 0) return true;
  }
  return false;
}
