import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isSecurityError } from '@covenant/core';
import { ScopeRefusedError, createRbacStore, type Binding, type RbacActor, type Role } from '../src/index.ts';
import { CATALOGUE, T0, allowed, openStore, refusedChange, user, type Fixture } from './support/rbac-fixture.ts';

// Issue 12, section 2: a user holding rbac.bindings.manage only in one workspace could revoke any allow in
// the whole org (the org-wide admin bindings included) and deny every admin their admin role. Every change
// is now confined to where the actor manages: bindings where it holds rbac.bindings.manage (an org-wide
// binding needs it org-wide), roles only with rbac.roles.manage org-wide, and never outside the workspace
// its session is bound to. A refusal is a ScopeRefusedError (403) and a 'refused' change record.

const ALICE = user('alice', 'req-alice'); // the bootstrapped admin of org_a
let f: Fixture;
let admin: Role; // every catalogue capability
let adminBinding: Binding; // alice's, org-wide
let reader: Role; // tickets.read
let manager: Role; // rbac.bindings.manage, rbac.roles.manage, tickets.read

beforeEach(async () => {
  f = await openStore();
  ({ role: admin, binding: adminBinding } = await f.rbac.bootstrapTenant('ops', 'org_a', 'alice', 'first admin of org_a'));
  reader = await f.rbac.createRole(ALICE, 'org_a', { name: 'reader', capabilities: ['tickets.read'] }, 'readers');
  manager = await f.rbac.createRole(ALICE, 'org_a', { name: 'manager', capabilities: ['rbac.bindings.manage', 'rbac.roles.manage', 'tickets.read'] }, 'managers');
});
afterEach(() => f.db.destroy());

/** A grant of the reader role to erin by `actor`, in `workspace` (`null`: org-wide). */
const grantReader = (actor: RbacActor, workspace: string | null) => () => f.rbac.grant(actor, 'org_a', { subject: 'erin', roleId: reader.id, workspace }, 'erin reads');

/** Asserts `attempt` is refused for scope, nothing but a 'refused' record was written, and returns that record. */
async function expectScopeRefused(attempt: () => Promise<unknown>, actor: RbacActor, action: string, capability: string, workspace: string | null) {
  const { error, record } = await refusedChange(f, attempt);
  expect(error).toBeInstanceOf(ScopeRefusedError);
  const refused = error as ScopeRefusedError;
  expect(isSecurityError(refused)).toBe(true);
  expect({ code: refused.code, status: refused.status, capability: refused.capability, workspace: refused.workspace, wireMessage: refused.wireMessage }).toEqual({
    code: 'ERR_RBAC_SCOPE_REFUSED',
    status: 403,
    capability,
    workspace,
    wireMessage: 'You cannot change the policy outside the scope you manage',
  });
  expect(record).toMatchObject({ actor: actor.id, action, outcome: 'refused', before: null, requestId: actor.requestId, after: { code: 'ERR_RBAC_SCOPE_REFUSED', missing: [capability] } });
  return record;
}

describe('a binding manager of one workspace (rbac.bindings.manage only in support)', () => {
  const SUE = user('sue', 'req-sue');
  beforeEach(async () => {
    await f.rbac.grant(ALICE, 'org_a', { subject: 'sue', roleId: manager.id, workspace: 'support' }, 'sue runs support');
  });

  it('cannot revoke the org-wide admin binding, nor any other binding outside support', async () => {
    await expectScopeRefused(() => f.rbac.revoke(SUE, 'org_a', adminBinding.id, 'take over'), SUE, 'bindings.revoke', 'rbac.bindings.manage', null);
    const billing = await f.rbac.grant(ALICE, 'org_a', { subject: 'bob', roleId: reader.id, workspace: 'billing' }, 'bob reads billing');
    await expectScopeRefused(() => f.rbac.revoke(SUE, 'org_a', billing.id, 'not mine'), SUE, 'bindings.revoke', 'rbac.bindings.manage', 'billing');
    for (const capability of CATALOGUE) expect(await allowed(f.rbac, 'alice', 'org_a', capability)).toBe(true);
    expect(await allowed(f.rbac, 'bob', 'org_a', 'tickets.read', null, 'billing')).toBe(true);
  });

  it('cannot deny the admins their admin role, org-wide or in another workspace (nor in support: she lacks its capabilities)', async () => {
    await f.rbac.grant(ALICE, 'org_a', { subject: 'amy', roleId: admin.id }, 'a second admin');
    for (const subject of ['alice', 'amy']) {
      await expectScopeRefused(
        () => f.rbac.grant(SUE, 'org_a', { subject, roleId: admin.id, effect: 'deny' }, 'lock them out'),
        SUE,
        'bindings.grant',
        'rbac.bindings.manage',
        null,
      );
      await expectScopeRefused(
        () => f.rbac.grant(SUE, 'org_a', { subject, roleId: admin.id, effect: 'deny', workspace: 'billing' }, 'lock them out of billing'),
        SUE,
        'bindings.grant',
        'rbac.bindings.manage',
        'billing',
      );
      // In her own workspace the deny is hers to grant only if she holds what it takes away.
      await expect(f.rbac.grant(SUE, 'org_a', { subject, roleId: admin.id, effect: 'deny', workspace: 'support' }, 'in support')).rejects.toMatchObject({
        code: 'ERR_RBAC_ESCALATION_REFUSED',
      });
      for (const capability of CATALOGUE) expect(await allowed(f.rbac, subject, 'org_a', capability, null, 'support')).toBe(true);
    }
  });

  it('cannot grant org-wide or in another workspace, nor create, edit or delete roles', async () => {
    for (const workspace of [null, 'billing']) {
      await expectScopeRefused(grantReader(SUE, workspace), SUE, 'bindings.grant', 'rbac.bindings.manage', workspace);
    }
    // Her rbac.roles.manage is a workspace grant too: roles belong to the org.
    await expectScopeRefused(() => f.rbac.createRole(SUE, 'org_a', { name: 'mine', capabilities: [] }, 'a role'), SUE, 'roles.create', 'rbac.roles.manage', null);
    await expectScopeRefused(() => f.rbac.updateRole(SUE, 'org_a', reader.id, { description: 'edited' }, 'an edit'), SUE, 'roles.update', 'rbac.roles.manage', null);
    await expectScopeRefused(() => f.rbac.updateRole(SUE, 'org_a', admin.id, { capabilities: [] }, 'empty the admin role'), SUE, 'roles.update', 'rbac.roles.manage', null);
    await expectScopeRefused(() => f.rbac.deleteRole(SUE, 'org_a', admin.id, 'delete the admin role'), SUE, 'roles.delete', 'rbac.roles.manage', null);
  });

  it('the legal neighbour: grants, denies and revokes in support what she holds there', async () => {
    const granted = await f.rbac.grant(SUE, 'org_a', { subject: 'ann', roleId: reader.id, workspace: 'support' }, 'ann reads support');
    expect(await allowed(f.rbac, 'ann', 'org_a', 'tickets.read', null, 'support')).toBe(true);
    const denied = await f.rbac.grant(SUE, 'org_a', { subject: 'ann', roleId: reader.id, effect: 'deny', workspace: 'support' }, 'ann paused');
    expect(await allowed(f.rbac, 'ann', 'org_a', 'tickets.read', null, 'support')).toBe(false);
    await f.rbac.revoke(SUE, 'org_a', denied.id, 'ann is back');
    await f.rbac.revoke(SUE, 'org_a', granted.id, 'ann left');
    expect(await allowed(f.rbac, 'ann', 'org_a', 'tickets.read', null, 'support')).toBe(false);
    expect((await f.rbac.changes('org_a', { limit: 4 })).map((c) => [c.action, c.outcome])).toEqual([
      ['bindings.revoke', 'applied'],
      ['bindings.revoke', 'applied'],
      ['bindings.grant', 'applied'],
      ['bindings.grant', 'applied'],
    ]);
  });
});

describe('a session bound to a workspace', () => {
  it('an org-wide manager acting through a support token changes only support bindings', async () => {
    await f.rbac.grant(ALICE, 'org_a', { subject: 'max', roleId: manager.id }, 'max manages the org');
    const maxInSupport = user('max', 'req-max', 'support');
    await expectScopeRefused(() => f.rbac.revoke(maxInSupport, 'org_a', adminBinding.id, 'through support'), maxInSupport, 'bindings.revoke', 'rbac.bindings.manage', null);
    await expectScopeRefused(grantReader(maxInSupport, 'billing'), maxInSupport, 'bindings.grant', 'rbac.bindings.manage', 'billing');
    await expectScopeRefused(() => f.rbac.createRole(maxInSupport, 'org_a', { name: 'x', capabilities: [] }, 'a role'), maxInSupport, 'roles.create', 'rbac.roles.manage', null);
    // Alice too: her org-wide admin binding does not reach past the workspace her token names.
    const aliceInSupport = user('alice', 'req-alice-2', 'support');
    await expectScopeRefused(() => f.rbac.deleteRole(aliceInSupport, 'org_a', reader.id, 'through support'), aliceInSupport, 'roles.delete', 'rbac.roles.manage', null);
    // The legal neighbours: in support, and with an org-wide session.
    await f.rbac.grant(maxInSupport, 'org_a', { subject: 'erin', roleId: reader.id, workspace: 'support' }, 'erin reads support');
    const orgWide = await f.rbac.grant(user('max'), 'org_a', { subject: 'erin', roleId: reader.id }, 'erin reads everywhere');
    expect(orgWide.workspace).toBeNull();
  });
});

describe('where the managing capability is held', () => {
  it('a deny of it in one workspace takes the whole org out of the actor’s scope, not the other workspaces', async () => {
    await f.rbac.grant(ALICE, 'org_a', { subject: 'max', roleId: manager.id }, 'max manages the org');
    await f.rbac.grant(ALICE, 'org_a', { subject: 'max', roleId: manager.id, effect: 'deny', workspace: 'billing' }, 'not billing');
    const max = user('max');
    for (const workspace of [null, 'billing']) {
      await expectScopeRefused(grantReader(max, workspace), max, 'bindings.grant', 'rbac.bindings.manage', workspace);
    }
    await f.rbac.grant(max, 'org_a', { subject: 'erin', roleId: reader.id, workspace: 'support' }, 'support is fine');
  });

  it('an expiring managing binding works until it expires (injected clock), a resource-scoped one never', async () => {
    await f.rbac.grant(ALICE, 'org_a', { subject: 'max', roleId: manager.id, expiresAt: new Date(T0 + 1_000) }, 'max manages for a second');
    await f.rbac.grant(ALICE, 'org_a', { subject: 'rex', roleId: manager.id, resource: { type: 'ticket', id: '*' } }, 'rex, on tickets');
    const max = user('max');
    await f.rbac.grant(max, 'org_a', { subject: 'erin', roleId: reader.id, workspace: 'support', expiresAt: new Date(T0 + 1_000) }, 'in time');
    f.clock.set(T0 + 1_000);
    await expectScopeRefused(
      () => f.rbac.grant(max, 'org_a', { subject: 'erin', roleId: reader.id, workspace: 'support', expiresAt: new Date(T0 + 1_000) }, 'too late'),
      max,
      'bindings.grant',
      'rbac.bindings.manage',
      'support',
    );
    const rex = user('rex');
    await expectScopeRefused(
      () => f.rbac.grant(rex, 'org_a', { subject: 'erin', roleId: reader.id, resource: { type: 'ticket', id: 't1' } }, 'one ticket'),
      rex,
      'bindings.grant',
      'rbac.bindings.manage',
      null,
    );
  });

  it('is read inside the change, not from the decision cache: a manager revoked a moment ago is refused', async () => {
    const binding = await f.rbac.grant(ALICE, 'org_a', { subject: 'max', roleId: manager.id }, 'max manages');
    expect(await allowed(f.rbac, 'max', 'org_a', 'rbac.bindings.manage')).toBe(true); // now cached
    await f.rbac.revoke(ALICE, 'org_a', binding.id, 'max left');
    const max = user('max');
    await expectScopeRefused(grantReader(max, null), max, 'bindings.grant', 'rbac.bindings.manage', null);
  });
});

describe('the managing capabilities are store options', () => {
  it('refuses an invalid capability name at creation, naming the option', () => {
    for (const [option, value] of [
      ['manageBindingsCapability', 'Bindings Manage'],
      ['manageBindingsCapability', 'rbac.*'],
      ['manageRolesCapability', ''],
      ['manageRolesCapability', 42],
    ] as const) {
      expect(() => createRbacStore({ db: f.db, [option]: value } as never)).toThrow(new TypeError(`createRbacStore: "${option}" must be a capability name (e.g. "${option === 'manageRolesCapability' ? 'rbac.roles.manage' : 'rbac.bindings.manage'}")`));
    }
    expect(() => createRbacStore({ db: f.db, onChange: 'log' } as never)).toThrow(TypeError);
    expect(() => createRbacStore({ db: f.db, keepRefusal: {} } as never)).toThrow(TypeError);
  });

  it('uses the configured names: then rbac.bindings.manage is just another capability', async () => {
    const db = f.db;
    const rbac = createRbacStore({ db, clock: f.clock, manageBindingsCapability: 'iam.bind', manageRolesCapability: 'iam.roles' });
    await rbac.registerCapabilities(['iam.bind', 'iam.roles'], 'registered');
    await rbac.bootstrapTenant('ops', 'org_b', 'bea', 'first admin of org_b');
    const [bootstrapRole] = await rbac.listRoles('org_b');
    const old = await rbac.createRole(user('bea'), 'org_b', { name: 'old-style', capabilities: ['rbac.bindings.manage', 'rbac.roles.manage'] }, 'old names');
    await rbac.grant(user('bea'), 'org_b', { subject: 'otto', roleId: old.id }, 'otto holds the old names');
    const otto = user('otto');
    await expect(rbac.grant(otto, 'org_b', { subject: 'x', roleId: old.id }, 'old names do not manage')).rejects.toMatchObject({ code: 'ERR_RBAC_SCOPE_REFUSED', capability: 'iam.bind' });
    await expect(rbac.createRole(otto, 'org_b', { name: 'y', capabilities: [] }, 'nor roles')).rejects.toMatchObject({ code: 'ERR_RBAC_SCOPE_REFUSED', capability: 'iam.roles' });
    // And the org must keep someone holding iam.bind org-wide: bea's binding is the only one.
    const [beaBinding] = await rbac.listBindings('org_b', { subject: 'bea' });
    await expect(rbac.revoke(user('bea'), 'org_b', beaBinding!.id, 'bea leaves')).rejects.toMatchObject({ code: 'ORG_UNMANAGEABLE' });
    expect(bootstrapRole!.capabilities).toContain('iam.bind');
  });
});
