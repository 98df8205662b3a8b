import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RbacChangeError, type Binding, type Role } from '../src/index.ts';
import { CATALOGUE, T0, allowed, openStore, refusedChange, user, type Fixture } from './support/rbac-fixture.ts';

// Issue 12, section 2: no change may leave an org without a principal able to manage its bindings, or the
// org is locked out for good (an admin denied rbac.bindings.manage cannot lift the deny). After every change
// that takes rights away, someone must still hold rbac.bindings.manage org-wide, unexpired and not
// expiring, with no deny of it anywhere; otherwise ORG_UNMANAGEABLE, recorded as a refused change.

const ALICE = user('alice', 'req-alice');
let f: Fixture;
let admin: Role;
let adminBinding: Binding;

beforeEach(async () => {
  f = await openStore();
  ({ role: admin, binding: adminBinding } = await f.rbac.bootstrapTenant('ops', 'org_a', 'alice', 'first admin of org_a'));
});
afterEach(() => f.db.destroy());

/**
 * Asserts `attempt` is refused with ORG_UNMANAGEABLE, changes nothing but a 'refused' record (`manager` still
 * holds everything), and returns the record.
 */
async function expectUnmanageable(attempt: () => Promise<unknown>, action: string, manager = 'alice') {
  const { error, record } = await refusedChange(f, attempt);
  expect(error).toBeInstanceOf(RbacChangeError);
  expect(error).toMatchObject({ code: 'ORG_UNMANAGEABLE', message: 'the change would leave the org with nobody able to manage its bindings' });
  expect(record).toMatchObject({ action, outcome: 'refused', before: null, after: { code: 'ORG_UNMANAGEABLE' } });
  for (const capability of CATALOGUE) expect(await allowed(f.rbac, manager, 'org_a', capability)).toBe(true);
  return record;
}

describe('the last manager of the org', () => {
  it('cannot revoke her own admin binding', async () => {
    const record = await expectUnmanageable(() => f.rbac.revoke(ALICE, 'org_a', adminBinding.id, 'I quit'), 'bindings.revoke');
    expect(record.after).toEqual({ attempted: { bindingId: adminBinding.id }, code: 'ORG_UNMANAGEABLE' });
  });

  it('cannot deny herself the admin role, org-wide or in one workspace (a hole in the org-wide right)', async () => {
    await expectUnmanageable(() => f.rbac.grant(ALICE, 'org_a', { subject: 'alice', roleId: admin.id, effect: 'deny' }, 'lock me out'), 'bindings.grant');
    await expectUnmanageable(
      () => f.rbac.grant(ALICE, 'org_a', { subject: 'alice', roleId: admin.id, effect: 'deny', workspace: 'w1' }, 'not in w1'),
      'bindings.grant',
    );
    const manage = await f.rbac.createRole(ALICE, 'org_a', { name: 'binding-managers', capabilities: ['rbac.bindings.manage'] }, 'the one capability');
    await expectUnmanageable(
      () => f.rbac.grant(ALICE, 'org_a', { subject: 'alice', roleId: manage.id, effect: 'deny', resource: { type: 'ticket', id: '*' }, expiresAt: new Date(T0 + 60_000) }, 'a minute'),
      'bindings.grant',
    );
  });

  it('cannot take rbac.bindings.manage out of the admin role, nor delete it; other edits pass', async () => {
    const without = CATALOGUE.filter((c) => c !== 'rbac.bindings.manage');
    await expectUnmanageable(() => f.rbac.updateRole(ALICE, 'org_a', admin.id, { capabilities: without }, 'slim it down'), 'roles.update');
    await expectUnmanageable(() => f.rbac.deleteRole(ALICE, 'org_a', admin.id, 'start over'), 'roles.delete');
    // The legal neighbours: dropping another capability, or only the description.
    await f.rbac.updateRole(ALICE, 'org_a', admin.id, { capabilities: CATALOGUE.filter((c) => c !== 'tickets.delete'), description: 'the admins' }, 'no deletes');
    expect(await allowed(f.rbac, 'alice', 'org_a', 'rbac.bindings.manage')).toBe(true);
  });
});

describe('who counts as a manager', () => {
  it('with a second permanent admin either may go, but not both', async () => {
    const amy = await f.rbac.grant(ALICE, 'org_a', { subject: 'amy', roleId: admin.id }, 'a second admin');
    await f.rbac.revoke(ALICE, 'org_a', adminBinding.id, 'alice hands over');
    await expectUnmanageable(() => f.rbac.revoke(user('amy'), 'org_a', amy.id, 'amy leaves too'), 'bindings.revoke', 'amy');
    expect(await allowed(f.rbac, 'alice', 'org_a', 'rbac.bindings.manage')).toBe(false);
  });

  it('an expiring admin does not count: the clock alone would lock the org out', async () => {
    await f.rbac.grant(ALICE, 'org_a', { subject: 'amy', roleId: admin.id, expiresAt: new Date(T0 + 86_400_000) }, 'amy for a day');
    await expectUnmanageable(() => f.rbac.revoke(ALICE, 'org_a', adminBinding.id, 'alice hands over'), 'bindings.revoke');
  });

  it('nor does one scoped to a workspace or a resource, or one denied the capability somewhere', async () => {
    await f.rbac.grant(ALICE, 'org_a', { subject: 'wes', roleId: admin.id, workspace: 'w1' }, 'admin of w1');
    await f.rbac.grant(ALICE, 'org_a', { subject: 'rex', roleId: admin.id, resource: { type: 'ticket', id: '*' } }, 'admin of tickets');
    await f.rbac.grant(ALICE, 'org_a', { subject: 'dan', roleId: admin.id }, 'admin, but');
    await f.rbac.grant(ALICE, 'org_a', { subject: 'dan', roleId: admin.id, effect: 'deny', workspace: 'w2' }, 'not in w2');
    await expectUnmanageable(() => f.rbac.revoke(ALICE, 'org_a', adminBinding.id, 'alice hands over'), 'bindings.revoke');
    // Lifting dan's deny makes him a manager: restoring a manager is never refused.
    const [deny] = (await f.rbac.listBindings('org_a', { subject: 'dan' })).filter((b) => b.effect === 'deny');
    await f.rbac.revoke(ALICE, 'org_a', deny!.id, 'dan is back');
    await f.rbac.revoke(ALICE, 'org_a', adminBinding.id, 'alice hands over');
    expect(await allowed(f.rbac, 'alice', 'org_a', 'rbac.bindings.manage')).toBe(false);
  });

  it('a role holding only rbac.bindings.manage is enough (the invariant is about bindings), and an expired deny denies nothing', async () => {
    const binder = await f.rbac.createRole(ALICE, 'org_a', { name: 'binder', capabilities: ['rbac.bindings.manage'] }, 'binding managers');
    await f.rbac.grant(ALICE, 'org_a', { subject: 'bo', roleId: binder.id }, 'bo manages bindings');
    await f.rbac.grant(ALICE, 'org_a', { subject: 'bo', roleId: binder.id, effect: 'deny', expiresAt: new Date(T0 + 1_000) }, 'paused for a second');
    await expectUnmanageable(() => f.rbac.revoke(ALICE, 'org_a', adminBinding.id, 'too early'), 'bindings.revoke');
    f.clock.set(T0 + 1_000);
    await f.rbac.revoke(ALICE, 'org_a', adminBinding.id, 'bo has it now');
    expect(await allowed(f.rbac, 'bo', 'org_a', 'rbac.bindings.manage')).toBe(true);
  });
});
