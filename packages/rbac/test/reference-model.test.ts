import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ResourceSelector } from '@covenant/core';
import type { RbacStore } from '../src/index.ts';
import { T0, check, counterIds, manualClock, openStore, user } from './support/rbac-fixture.ts';

// ---------------------------------------------------------------------------------------------------------
// The reference model: what the issue says a decision is, written from the rules and not from
// src/evaluate.ts. A binding counts for a check when it is the subject's, in the check's org, org-wide or in
// the check's workspace, unexpired, its role holds the capability, and its resource scope applies. Any deny
// refuses; otherwise any allow grants; otherwise nothing does.
// ---------------------------------------------------------------------------------------------------------

interface ModelBinding {
  readonly id: string;
  readonly org: string;
  readonly subject: string;
  readonly capabilities: ReadonlySet<string>;
  readonly effect: 'allow' | 'deny';
  readonly workspace: string | null;
  readonly resource: { readonly type: string; readonly id: string } | null;
  readonly expiresAt: number | null;
}

interface Query {
  readonly subject: string;
  readonly org: string;
  readonly workspace: string | null;
  readonly capability: string;
  readonly resource: ResourceSelector | null;
}

interface ModelDecision {
  readonly allowed: boolean;
  readonly code: string;
  /** The smallest id among the allows that matched (the store reports that one). */
  readonly matched?: string;
}

function scopeApplies(binding: ModelBinding, resource: ResourceSelector | null): boolean {
  if (binding.resource === null) return true; // no scope: the whole tenant, every resource in it
  if (resource === null || resource.type !== binding.resource.type) return false;
  if (binding.resource.id === '*') return true; // every resource of the type
  // The entry check does not know the id yet: an allow somewhere in the type lets it on, a deny on one id does not refuse it.
  if (resource.id === null) return binding.effect === 'allow';
  return resource.id === binding.resource.id;
}

function modelDecide(bindings: ReadonlyArray<ModelBinding>, catalogue: ReadonlySet<string>, now: number, q: Query): ModelDecision {
  if (!catalogue.has(q.capability)) return { allowed: false, code: 'authz.unknown_capability' };
  const matching = bindings.filter(
    (b) =>
      b.org === q.org &&
      b.subject === q.subject &&
      (b.workspace === null || b.workspace === q.workspace) &&
      (b.expiresAt === null || b.expiresAt > now) &&
      b.capabilities.has(q.capability) &&
      scopeApplies(b, q.resource),
  );
  if (matching.some((b) => b.effect === 'deny')) return { allowed: false, code: 'authz.denied_by_binding' };
  const allows = matching.map((b) => b.id).sort();
  if (allows.length > 0) return { allowed: true, code: 'authz.allowed', matched: allows[0]! };
  return { allowed: false, code: 'authz.missing_capability' };
}

// ---------------------------------------------------------------------------------------------------------
// Random policies, built through the public API: every org bootstrapped by the operator, then roles created
// and bindings granted by the bootstrapped admin.
// ---------------------------------------------------------------------------------------------------------

const ORGS = ['org_a', 'org_b', 'org_c'] as const;
const POOL = ['tickets.read', 'tickets.write', 'tickets.delete', 'projects.read', 'projects.write'] as const;
/** Registered too, so that the bootstrapped admin, who builds every policy, manages bindings and roles. */
const MANAGE = ['rbac.bindings.manage', 'rbac.roles.manage'] as const;
/** Valid names outside the catalogue: a check for one is unknown, never granted. */
const UNREGISTERED = 'tickets.archive';
const SUBJECTS = ['u1', 'u2', 'u3'] as const; // the same names in every org
const ADMIN = 'admin';
const WORKSPACES = [null, 'w1', 'w2'] as const;
const HOUR = 3_600_000;

interface RoleSpec {
  readonly org: number;
  readonly capabilities: ReadonlyArray<string>;
}

interface BindingSpec {
  readonly org: number;
  readonly subject: string;
  /** Index among the roles of the binding's org (taken modulo their number; the admin role when there is none). */
  readonly role: number;
  readonly effect: 'allow' | 'deny';
  readonly workspace: string | null;
  readonly resource: { readonly type: string; readonly id: string } | null;
  /** Relative to the clock: already expired, expiring exactly now, or still valid. */
  readonly expiresIn: number | null;
}

const orgIndex = fc.integer({ min: 0, max: ORGS.length - 1 });
const roleSpec: fc.Arbitrary<RoleSpec> = fc.record({
  org: orgIndex,
  // Duplicates inside one role's list are allowed on purpose: a role is a set.
  capabilities: fc.array(fc.constantFrom(...POOL), { maxLength: 4 }),
});
const scope = fc.option(
  fc.record({ type: fc.constantFrom('ticket', 'project'), id: fc.constantFrom('t1', 't2', '*') }),
  { nil: null, freq: 2 },
);
const bindingSpec: fc.Arbitrary<BindingSpec> = fc.record({
  org: orgIndex,
  subject: fc.constantFrom(...SUBJECTS),
  role: fc.nat({ max: 20 }),
  effect: fc.constantFrom<'allow' | 'deny'>('allow', 'allow', 'deny'),
  workspace: fc.constantFrom(...WORKSPACES),
  resource: scope,
  expiresIn: fc.constantFrom(null, null, -HOUR, 0, HOUR),
});
const query: fc.Arbitrary<Query> = fc.record({
  subject: fc.constantFrom(...SUBJECTS, ADMIN),
  org: fc.constantFrom(...ORGS),
  workspace: fc.constantFrom(...WORKSPACES),
  capability: fc.constantFrom(...POOL, UNREGISTERED),
  resource: fc.option(fc.record({ type: fc.constantFrom('ticket', 'project'), id: fc.constantFrom<string | null>(null, 't1', 't2') }), {
    nil: null,
  }),
});

interface Policy {
  readonly roles: ReadonlyArray<RoleSpec>;
  readonly bindings: ReadonlyArray<BindingSpec>;
}

const policy: fc.Arbitrary<Policy> = fc.record({
  roles: fc.array(roleSpec, { maxLength: 8 }),
  bindings: fc.array(bindingSpec, { maxLength: 16 }),
});

/** A store holding `policy`, and the same policy as the model sees it. */
interface Built {
  readonly rbac: RbacStore;
  readonly model: ModelBinding[];
  readonly catalogue: ReadonlySet<string>;
  /** The role ids per org, in creation order (admin first), with their capabilities. */
  readonly roles: ReadonlyArray<ReadonlyArray<{ readonly id: string; readonly capabilities: ReadonlySet<string> }>>;
  close(): Promise<void>;
}

interface BuildOrder {
  /** Indices into policy.roles, in the order to create them (each exactly once). */
  readonly roleOrder?: ReadonlyArray<number>;
  /** Indices into policy.bindings, in the order to grant them (an index may repeat: a duplicate grant). */
  readonly bindingOrder?: ReadonlyArray<number>;
}

async function build(p: Policy, order: BuildOrder = {}): Promise<Built> {
  const clock = manualClock();
  const { db, rbac } = await openStore({ clock, capabilities: [...POOL, ...MANAGE], ids: counterIds() });
  const catalogue = new Set<string>([...POOL, ...MANAGE]);
  const model: ModelBinding[] = [];
  const roles: Array<Array<{ id: string; capabilities: ReadonlySet<string> }>> = ORGS.map(() => []);
  for (const [i, org] of ORGS.entries()) {
    const boot = await rbac.bootstrapTenant('ops', org, ADMIN, `bootstrap ${org} for the property`);
    roles[i]!.push({ id: boot.role.id, capabilities: new Set(boot.role.capabilities) });
    model.push({ id: boot.binding.id, org, subject: ADMIN, capabilities: catalogue, effect: 'allow', workspace: null, resource: null, expiresAt: null });
  }
  // Roles are named by their index in the policy, so a permuted build gives every role the same name.
  const roleIds = new Map<number, string>();
  for (const r of order.roleOrder ?? p.roles.map((_, i) => i)) {
    const spec = p.roles[r]!;
    const created = await rbac.createRole(user(ADMIN), ORGS[spec.org]!, { name: `r${r}`, capabilities: spec.capabilities }, 'random role');
    roleIds.set(r, created.id);
  }
  // Each org's roles in policy order (not creation order), so a binding names the same role in every build.
  p.roles.forEach((spec, r) => roles[spec.org]!.push({ id: roleIds.get(r)!, capabilities: new Set(spec.capabilities) }));
  for (const b of order.bindingOrder ?? p.bindings.map((_, i) => i)) {
    const spec = p.bindings[b]!;
    const candidates = roles[spec.org]!.length > 1 ? roles[spec.org]!.slice(1) : roles[spec.org]!;
    const role = candidates[spec.role % candidates.length]!;
    const expiresAt = spec.expiresIn === null ? null : T0 + spec.expiresIn;
    const org = ORGS[spec.org]!;
    const binding = await rbac.grant(
      user(ADMIN),
      org,
      { subject: spec.subject, roleId: role.id, effect: spec.effect, workspace: spec.workspace, resource: spec.resource, expiresAt: expiresAt === null ? null : new Date(expiresAt) },
      'random binding',
    );
    model.push({ ...spec, id: binding.id, org, capabilities: role.capabilities, expiresAt });
  }
  return { rbac, model, catalogue, roles, close: () => db.destroy() };
}

async function storeDecide(rbac: RbacStore, q: Query): Promise<ModelDecision> {
  const decision = await check(rbac, q.subject, q.org, q.capability, q.resource, q.workspace);
  return decision.allowed ? { allowed: true, code: decision.code, ...(decision.matched === undefined ? {} : { matched: decision.matched }) } : { allowed: false, code: decision.code };
}

/** Checks aimed at a binding of the policy (its org, subject, maybe workspace and resource), so that random checks do hit bindings. */
function aimedAt(p: Policy): fc.Arbitrary<Query> {
  if (p.bindings.length === 0) return query;
  const used = [...new Set(p.roles.flatMap((r) => r.capabilities))];
  const capability = used.length > 0 ? fc.constantFrom(...used) : fc.constantFrom(...POOL);
  const aimed = fc
    .record({ b: fc.constantFrom(...p.bindings), q: query, capability, sameWorkspace: fc.boolean(), sameResource: fc.boolean(), entry: fc.boolean() })
    .map(({ b, q, capability, sameWorkspace, sameResource, entry }): Query => {
      const resource = sameResource && b.resource !== null ? { type: b.resource.type, id: entry || b.resource.id === '*' ? q.resource?.id ?? null : b.resource.id } : q.resource;
      return { ...q, org: ORGS[b.org]!, subject: b.subject, capability, workspace: sameWorkspace ? b.workspace : q.workspace, resource };
    });
  return fc.oneof(query, aimed, aimed);
}

const RUNS = { numRuns: 100 } as const;
const queriesFor = (p: Policy): fc.Arbitrary<Query[]> => fc.array(aimedAt(p), { minLength: 10, maxLength: 30 });
/** A policy with checks aimed at it. */
const policyAndQueries = policy.chain((p) => fc.tuple(fc.constant(p), queriesFor(p)));

describe('the store agrees with the reference model', () => {
  it('decides every random check as the model does (allowed, code and the matched binding)', async () => {
    await fc.assert(
      fc.asyncProperty(policyAndQueries, async ([p, qs]) => {
        const built = await build(p);
        try {
          for (const q of qs) expect(await storeDecide(built.rbac, q), JSON.stringify(q)).toEqual(modelDecide(built.model, built.catalogue, T0, q));
        } finally {
          await built.close();
        }
      }),
      RUNS,
    );
  });

  it('deny wins: adding a matching deny never leaves the check allowed', async () => {
    await fc.assert(
      fc.asyncProperty(policy.chain((p) => fc.tuple(fc.constant(p), aimedAt(p))), fc.nat(), fc.boolean(), async ([p, q], pick, inWorkspace) => {
        fc.pre(POOL.includes(q.capability as never));
        const built = await build(p);
        try {
          const org = ORGS.indexOf(q.org as (typeof ORGS)[number]);
          const withCapability = built.roles[org]!.filter((r) => r.capabilities.has(q.capability));
          const role = withCapability[pick % withCapability.length]!; // the admin role always qualifies
          // Every scope a deny can have and still cover this check.
          const scopes: Array<{ type: string; id: string } | null> = [null];
          if (q.resource !== null) scopes.push({ type: q.resource.type, id: '*' });
          if (q.resource?.id != null) scopes.push({ type: q.resource.type, id: q.resource.id });
          const resource = scopes[pick % scopes.length]!;
          const workspace = inWorkspace && q.workspace !== null ? q.workspace : null;
          // Denying the admin its own admin role would leave the org with nobody managing it (refused,
          // ORG_UNMANAGEABLE): a second admin first. Its binding changes no decision for q.subject.
          if (q.subject === ADMIN) await built.rbac.grant(user(ADMIN), q.org, { subject: 'backup', roleId: built.roles[org]![0]!.id }, 'a second admin');
          await built.rbac.grant(user(ADMIN), q.org, { subject: q.subject, roleId: role.id, effect: 'deny', workspace, resource }, 'deny wins');
          const decision = await check(built.rbac, q.subject, q.org, q.capability, q.resource, q.workspace);
          expect(decision).toEqual({ kind: 'authorization', allowed: false, code: 'authz.denied_by_binding', capability: q.capability, resource: q.resource });
        } finally {
          await built.close();
        }
      }),
      RUNS,
    );
  });

  it('is independent of the order roles and bindings were inserted in, and of duplicate grants', async () => {
    const permuted = policy.chain((p) =>
      fc.record({
        p: fc.constant(p),
        qs: queriesFor(p),
        roleOrder: fc.shuffledSubarray(p.roles.map((_, i) => i), { minLength: p.roles.length, maxLength: p.roles.length }),
        bindingOrder: fc.shuffledSubarray(p.bindings.map((_, i) => i), { minLength: p.bindings.length, maxLength: p.bindings.length }),
        duplicates: fc.subarray(p.bindings.map((_, i) => i)),
      }),
    );
    await fc.assert(
      fc.asyncProperty(permuted, async ({ p, qs, roleOrder, bindingOrder, duplicates }) => {
        const original = await build(p);
        const shuffled = await build(p, { roleOrder, bindingOrder: [...bindingOrder, ...duplicates] });
        try {
          for (const q of qs) {
            const a = await check(original.rbac, q.subject, q.org, q.capability, q.resource, q.workspace);
            const b = await check(shuffled.rbac, q.subject, q.org, q.capability, q.resource, q.workspace);
            // `matched` names a binding id, and ids follow insertion order: compare the decision, not the id.
            expect({ allowed: b.allowed, code: b.code }, JSON.stringify(q)).toEqual({ allowed: a.allowed, code: a.code });
          }
        } finally {
          await original.close();
          await shuffled.close();
        }
      }),
      RUNS,
    );
  });

  it('adding an allow binding never removes access', async () => {
    await fc.assert(
      fc.asyncProperty(policyAndQueries, bindingSpec, async ([p, qs], extra) => {
        const built = await build(p);
        try {
          const before = await Promise.all(qs.map((q) => storeDecide(built.rbac, q)));
          const withAllow = await build({ roles: p.roles, bindings: [...p.bindings, { ...extra, effect: 'allow' }] });
          try {
            for (const [i, q] of qs.entries()) {
              const after = await storeDecide(withAllow.rbac, q);
              if (before[i]!.allowed) expect(after.allowed, JSON.stringify(q)).toBe(true);
              expect(after).toEqual(modelDecide(withAllow.model, withAllow.catalogue, T0, q));
            }
          } finally {
            await withAllow.close();
          }
        } finally {
          await built.close();
        }
      }),
      RUNS,
    );
  });
});
