import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isSecurityError } from '@covenant/core';
import { EscalationRefusedError, type Role } from '../src/index.ts';
import { T0, allowed, changeCount, openStore, refusedChange, user, type Fixture } from './support/rbac-fixture.ts';

// No privilege escalation through delegation: an actor grants only what it holds, where it holds it. Every
// refusal is an EscalationRefusedError (403, stable code) and a 'refused' change record naming what was missing.
// The granters here manage bindings and roles org-wide (the `manager` role), so what these tests judge is
// what they hold; where they may manage is scope.test.ts's subject.

const ALICE = user('alice', 'req-alice');
const BOB = user('bob', 'req-bob');
let f: Fixture;
let reader: Role; // tickets.read
let writer: Role; // tickets.read, tickets.write
let manager: Role; // rbac.bindings.manage, rbac.roles.manage

/** Makes `subject` a manager of bindings and roles org-wide: what it may hand out is then what it holds. */
const manage = (subject: string) => f.rbac.grant(ALICE, 'org_a', { subject, roleId: manager.id }, `${subject} manages`);

beforeEach(async () => {
  f = await openStore();
  await f.rbac.bootstrapTenant('ops', 'org_a', 'alice', 'first admin of org_a');
  reader = await f.rbac.createRole(ALICE, 'org_a', { name: 'reader', capabilities: ['tickets.read'] }, 'readers');
  writer = await f.rbac.createRole(ALICE, 'org_a', { name: 'writer', capabilities: ['tickets.write', 'tickets.read'] }, 'writers');
  manager = await f.rbac.createRole(ALICE, 'org_a', { name: 'manager', capabilities: ['rbac.bindings.manage', 'rbac.roles.manage'] }, 'managers');
  await f.rbac.grant(ALICE, 'org_a', { subject: 'bob', roleId: reader.id }, 'bob reads');
  await manage('bob');
});
afterEach(() => f.db.destroy());

/** Asserts `attempt` is refused as an escalation, nothing but a 'refused' record was written, and returns that record. */
async function expectRefused(attempt: () => Promise<unknown>, action: string, missing: string[], actor = BOB) {
  const { error, record } = await refusedChange(f, attempt);
  expect(error).toBeInstanceOf(EscalationRefusedError);
  const refused = error as EscalationRefusedError;
  expect(isSecurityError(refused)).toBe(true);
  expect({ code: refused.code, status: refused.status, capabilities: refused.capabilities, wireMessage: refused.wireMessage }).toEqual({
    code: 'ERR_RBAC_ESCALATION_REFUSED',
    status: 403,
    capabilities: missing,
    wireMessage: 'You cannot grant capabilities you do not hold',
  });
  expect(record).toMatchObject({ actor: actor.id, action, outcome: 'refused', before: null, requestId: actor.requestId, at: new Date(T0).toISOString() });
  expect((record.after as { missing: unknown }).missing).toEqual(missing);
  return record;
}

describe('grant', () => {
  it('refuses granting a role with a capability the granter lacks, and records it', async () => {
    const record = await expectRefused(
      () => f.rbac.grant(BOB, 'org_a', { subject: 'carol', roleId: writer.id }, 'carol should write'),
      'bindings.grant',
      ['tickets.write'],
    );
    expect(record.reason).toBe('carol should write');
    expect(record.after).toEqual({
      attempted: { subject: 'carol', roleId: writer.id, workspace: null, resource: null, expiresAt: null },
      missing: ['tickets.write'],
    });
    expect(await allowed(f.rbac, 'carol', 'org_a', 'tickets.write')).toBe(false);
  });

  it('allows the legal neighbour: granting a role whose capabilities the granter holds', async () => {
    await f.rbac.grant(BOB, 'org_a', { subject: 'carol', roleId: reader.id }, 'carol reads');
    expect(await allowed(f.rbac, 'carol', 'org_a', 'tickets.read')).toBe(true);
  });

  it('refuses a granter to grant itself more (self-escalation)', async () => {
    await expectRefused(() => f.rbac.grant(BOB, 'org_a', { subject: 'bob', roleId: writer.id }, 'bob promotes himself'), 'bindings.grant', ['tickets.write']);
    expect(await allowed(f.rbac, 'bob', 'org_a', 'tickets.write')).toBe(false);
  });

  it('refuses a granter whose own binding has expired (injected clock), but not one a millisecond before', async () => {
    const dave = user('dave');
    await manage('dave');
    await f.rbac.grant(ALICE, 'org_a', { subject: 'dave', roleId: writer.id, expiresAt: new Date(T0 + 1_000) }, 'dave writes for a second');
    f.clock.set(T0 + 999);
    // In time, and no longer than dave's own binding lasts.
    await f.rbac.grant(dave, 'org_a', { subject: 'carol', roleId: reader.id, expiresAt: new Date(T0 + 1_000) }, 'in time');
    f.clock.set(T0 + 1_000);
    const before = await changeCount(f.db);
    await expect(
      f.rbac.grant(dave, 'org_a', { subject: 'erin', roleId: reader.id, expiresAt: new Date(T0 + 1_000) }, 'too late'),
    ).rejects.toBeInstanceOf(EscalationRefusedError);
    expect(await changeCount(f.db)).toBe(before + 1);
  });

  it('refuses a granter revoked a moment ago, even with its allow still in the decision cache', async () => {
    const carol = user('carol');
    await manage('carol');
    const binding = await f.rbac.grant(ALICE, 'org_a', { subject: 'carol', roleId: writer.id }, 'carol writes');
    expect(await allowed(f.rbac, 'carol', 'org_a', 'tickets.write')).toBe(true); // now cached
    await f.rbac.revoke(ALICE, 'org_a', binding.id, 'carol left');
    await expectRefused(() => f.rbac.grant(carol, 'org_a', { subject: 'erin', roleId: writer.id }, 'carol tries anyway'), 'bindings.grant', ['tickets.read', 'tickets.write'], carol);
  });

  it('refuses a granter whose capability is taken away by a deny binding', async () => {
    await f.rbac.grant(ALICE, 'org_a', { subject: 'bob', roleId: reader.id, effect: 'deny' }, 'bob suspended');
    await expectRefused(() => f.rbac.grant(BOB, 'org_a', { subject: 'carol', roleId: reader.id }, 'carol reads'), 'bindings.grant', ['tickets.read']);
  });
});

describe('scope of what a granter holds', () => {
  it('a workspace-scoped granter cannot grant org-wide or in another workspace, but can in its workspace', async () => {
    const dave = user('dave');
    await manage('dave');
    await f.rbac.grant(ALICE, 'org_a', { subject: 'dave', roleId: writer.id, workspace: 'w1' }, 'dave writes in w1');
    await expectRefused(() => f.rbac.grant(dave, 'org_a', { subject: 'erin', roleId: writer.id }, 'org-wide'), 'bindings.grant', ['tickets.read', 'tickets.write'], dave);
    await expectRefused(
      () => f.rbac.grant(dave, 'org_a', { subject: 'erin', roleId: writer.id, workspace: 'w2' }, 'other workspace'),
      'bindings.grant',
      ['tickets.read', 'tickets.write'],
      dave,
    );
    await expectRefused(() => f.rbac.createRole(dave, 'org_a', { name: 'w1-writer', capabilities: ['tickets.write'] }, 'roles are org-wide'), 'roles.create', ['tickets.write'], dave);
    await f.rbac.grant(dave, 'org_a', { subject: 'erin', roleId: writer.id, workspace: 'w1' }, 'same workspace');
    expect(await allowed(f.rbac, 'erin', 'org_a', 'tickets.write', null, 'w1')).toBe(true);
    expect(await allowed(f.rbac, 'erin', 'org_a', 'tickets.write', null, 'w2')).toBe(false);
  });

  it('a granter holding the capability on ticket:t1 only can grant it on ticket:t1, not on ticket:t2, ticket:* or tenant-wide', async () => {
    const frank = user('frank');
    await manage('frank');
    await f.rbac.grant(ALICE, 'org_a', { subject: 'frank', roleId: writer.id, resource: { type: 'ticket', id: 't1' } }, 'frank owns t1');
    const missing = ['tickets.read', 'tickets.write'];
    await expectRefused(() => f.rbac.grant(frank, 'org_a', { subject: 'erin', roleId: writer.id, resource: { type: 'ticket', id: '*' } }, 'all tickets'), 'bindings.grant', missing, frank);
    await expectRefused(() => f.rbac.grant(frank, 'org_a', { subject: 'erin', roleId: writer.id }, 'tenant-wide'), 'bindings.grant', missing, frank);
    await expectRefused(() => f.rbac.grant(frank, 'org_a', { subject: 'erin', roleId: writer.id, resource: { type: 'ticket', id: 't2' } }, 'another ticket'), 'bindings.grant', missing, frank);
    await expectRefused(() => f.rbac.grant(frank, 'org_a', { subject: 'erin', roleId: writer.id, resource: { type: 'project', id: 't1' } }, 'another type'), 'bindings.grant', missing, frank);
    await f.rbac.grant(frank, 'org_a', { subject: 'erin', roleId: writer.id, resource: { type: 'ticket', id: 't1' } }, 'the same ticket');
    expect(await allowed(f.rbac, 'erin', 'org_a', 'tickets.write', { type: 'ticket', id: 't1' })).toBe(true);
    expect(await allowed(f.rbac, 'erin', 'org_a', 'tickets.write', { type: 'ticket', id: 't2' })).toBe(false);
  });

  it('a granter holding the capability on ticket:* can grant it on ticket:* and ticket:t9, not tenant-wide or on project:*', async () => {
    const gina = user('gina');
    await manage('gina');
    await f.rbac.grant(ALICE, 'org_a', { subject: 'gina', roleId: writer.id, resource: { type: 'ticket', id: '*' } }, 'gina owns tickets');
    await f.rbac.grant(gina, 'org_a', { subject: 'erin', roleId: writer.id, resource: { type: 'ticket', id: '*' } }, 'all tickets');
    await f.rbac.grant(gina, 'org_a', { subject: 'hal', roleId: writer.id, resource: { type: 'ticket', id: 't9' } }, 'one ticket');
    const missing = ['tickets.read', 'tickets.write'];
    await expectRefused(() => f.rbac.grant(gina, 'org_a', { subject: 'erin', roleId: writer.id }, 'tenant-wide'), 'bindings.grant', missing, gina);
    await expectRefused(() => f.rbac.grant(gina, 'org_a', { subject: 'erin', roleId: writer.id, resource: { type: 'project', id: '*' } }, 'projects'), 'bindings.grant', missing, gina);
  });
});

describe('roles', () => {
  it('createRole with a capability the actor lacks is refused and recorded; with held ones it passes', async () => {
    const record = await expectRefused(
      () => f.rbac.createRole(BOB, 'org_a', { name: 'sneaky', capabilities: ['tickets.read', 'tickets.delete'] }, 'a role for my friends'),
      'roles.create',
      ['tickets.delete'],
    );
    expect(record.after).toEqual({ attempted: { name: 'sneaky', capabilities: ['tickets.delete', 'tickets.read'] }, missing: ['tickets.delete'] });
    expect((await f.rbac.listRoles('org_a')).map((r) => r.name)).not.toContain('sneaky');
    const created = await f.rbac.createRole(BOB, 'org_a', { name: 'readers-too', capabilities: ['tickets.read'] }, 'held');
    expect(created.capabilities).toEqual(['tickets.read']);
  });

  it('updateRole adding a capability the actor lacks is refused and recorded; keeping or dropping ones is not', async () => {
    const record = await expectRefused(
      () => f.rbac.updateRole(BOB, 'org_a', reader.id, { capabilities: ['tickets.read', 'tickets.write'] }, 'bob makes readers write'),
      'roles.update',
      ['tickets.write'],
    );
    expect(record.after).toEqual({ attempted: { roleId: reader.id, capabilities: ['tickets.read', 'tickets.write'] }, missing: ['tickets.write'] });
    expect((await f.rbac.listRoles('org_a')).find((r) => r.id === reader.id)!.capabilities).toEqual(['tickets.read']);
    expect(await allowed(f.rbac, 'bob', 'org_a', 'tickets.write')).toBe(false);
    // The legal neighbours: the same capabilities with a new description, then the capability dropped.
    await f.rbac.updateRole(BOB, 'org_a', reader.id, { capabilities: ['tickets.read'], description: 'read only' }, 'describe');
    const dropped = await f.rbac.updateRole(BOB, 'org_a', writer.id, { capabilities: ['tickets.read'] }, 'drop write');
    expect(dropped.capabilities).toEqual(['tickets.read']);
  });
});

describe('deny bindings', () => {
  // A deny is power over the denied: a binding manager who could deny what it does not hold could deny every
  // admin their admin role, and nobody holding it could lift the deny (issue 12, section 2).
  it('need what an allow of the role in that scope needs: refused without the capabilities they deny, and recorded', async () => {
    await f.rbac.grant(ALICE, 'org_a', { subject: 'carol', roleId: writer.id }, 'carol writes');
    const record = await expectRefused(
      () => f.rbac.grant(BOB, 'org_a', { subject: 'carol', roleId: writer.id, effect: 'deny' }, 'bob reports carol'),
      'bindings.grant',
      ['tickets.write'],
    );
    expect(record.after).toEqual({
      attempted: { subject: 'carol', roleId: writer.id, workspace: null, resource: null, expiresAt: null },
      missing: ['tickets.write'],
    });
    expect(await allowed(f.rbac, 'carol', 'org_a', 'tickets.write')).toBe(true);
    // Nor beyond the granter's scope or lifetime: bob's reader role is org-wide and forever, dave's for a minute.
    const dave = user('dave');
    await manage('dave');
    await f.rbac.grant(ALICE, 'org_a', { subject: 'dave', roleId: reader.id, expiresAt: new Date(T0 + 60_000) }, 'dave reads for a minute');
    await expectRefused(() => f.rbac.grant(dave, 'org_a', { subject: 'carol', roleId: reader.id, effect: 'deny' }, 'forever'), 'bindings.grant', ['tickets.read'], dave);
    // The legal neighbours: a deny of what the granter holds, for no longer than it holds it.
    await f.rbac.grant(dave, 'org_a', { subject: 'carol', roleId: reader.id, effect: 'deny', expiresAt: new Date(T0 + 60_000) }, 'for a minute');
    const deny = await f.rbac.grant(BOB, 'org_a', { subject: 'carol', roleId: reader.id, effect: 'deny' }, 'bob reports carol');
    expect(deny.effect).toBe('deny');
    expect(await allowed(f.rbac, 'carol', 'org_a', 'tickets.read')).toBe(false);
  });

  it('cannot be lifted (revoked) by an actor lacking what they deny; can by one holding it', async () => {
    await f.rbac.grant(ALICE, 'org_a', { subject: 'carol', roleId: writer.id }, 'carol writes');
    const deny = await f.rbac.grant(ALICE, 'org_a', { subject: 'carol', roleId: writer.id, effect: 'deny' }, 'carol suspended');
    const record = await expectRefused(() => f.rbac.revoke(BOB, 'org_a', deny.id, 'lift it'), 'bindings.revoke', ['tickets.write']);
    expect(record.after).toEqual({ attempted: { bindingId: deny.id }, missing: ['tickets.write'] });
    expect(await allowed(f.rbac, 'carol', 'org_a', 'tickets.write')).toBe(false);
    await f.rbac.revoke(ALICE, 'org_a', deny.id, 'suspension over');
    expect(await allowed(f.rbac, 'carol', 'org_a', 'tickets.write')).toBe(true);
  });

  it('cannot be lifted by dropping the capability from their role, or deleting the role, without holding it', async () => {
    await f.rbac.grant(ALICE, 'org_a', { subject: 'carol', roleId: writer.id }, 'carol writes');
    const suspended = await f.rbac.createRole(ALICE, 'org_a', { name: 'suspended', capabilities: ['tickets.write'] }, 'for denials');
    await f.rbac.grant(ALICE, 'org_a', { subject: 'carol', roleId: suspended.id, effect: 'deny' }, 'carol suspended');
    await expectRefused(() => f.rbac.updateRole(BOB, 'org_a', suspended.id, { capabilities: [] }, 'empty it'), 'roles.update', ['tickets.write']);
    await expectRefused(() => f.rbac.deleteRole(BOB, 'org_a', suspended.id, 'delete it'), 'roles.delete', ['tickets.write']);
    expect(await allowed(f.rbac, 'carol', 'org_a', 'tickets.write')).toBe(false);
    await f.rbac.deleteRole(ALICE, 'org_a', suspended.id, 'suspension over');
    expect(await allowed(f.rbac, 'carol', 'org_a', 'tickets.write')).toBe(true);
  });
});

// Regressions: a grant must not reach further, or last longer, than what the granter holds.
describe('a grant stays inside what the granter holds', () => {
  it('refuses an org-wide grant from a granter denied in one workspace or on one resource', async () => {
    const carol = user('carol');
    await manage('carol');
    await manage('erin');
    await f.rbac.grant(ALICE, 'org_a', { subject: 'carol', roleId: writer.id }, 'carol writes');
    await f.rbac.grant(ALICE, 'org_a', { subject: 'carol', roleId: reader.id, effect: 'deny', resource: { type: 'ticket', id: 't1' } }, 'not t1');
    await expectRefused(() => f.rbac.grant(carol, 'org_a', { subject: 'dave', roleId: reader.id }, 'dave reads'), 'bindings.grant', ['tickets.read'], carol);
    // On another ticket the deny does not reach: that grant is fine.
    await f.rbac.grant(carol, 'org_a', { subject: 'dave', roleId: reader.id, resource: { type: 'ticket', id: 't2' } }, 'dave reads t2');
    await f.rbac.grant(ALICE, 'org_a', { subject: 'erin', roleId: writer.id }, 'erin writes');
    await f.rbac.grant(ALICE, 'org_a', { subject: 'erin', roleId: reader.id, effect: 'deny', workspace: 'w1' }, 'not in w1');
    const erin = user('erin');
    await expectRefused(() => f.rbac.grant(erin, 'org_a', { subject: 'frank', roleId: reader.id }, 'frank reads'), 'bindings.grant', ['tickets.read'], erin);
    await f.rbac.grant(erin, 'org_a', { subject: 'frank', roleId: reader.id, workspace: 'w2' }, 'frank reads in w2');
  });

  it('refuses a grant that outlasts the granter’s own binding (or never expires)', async () => {
    const dave = user('dave');
    await manage('dave');
    await f.rbac.grant(ALICE, 'org_a', { subject: 'dave', roleId: writer.id, expiresAt: new Date(T0 + 60_000) }, 'dave writes for a minute');
    await expectRefused(() => f.rbac.grant(dave, 'org_a', { subject: 'frank', roleId: reader.id }, 'forever'), 'bindings.grant', ['tickets.read'], dave);
    await expectRefused(
      () => f.rbac.grant(dave, 'org_a', { subject: 'frank', roleId: reader.id, expiresAt: new Date(T0 + 60_001) }, 'a bit longer'),
      'bindings.grant',
      ['tickets.read'],
      dave,
    );
    await f.rbac.grant(dave, 'org_a', { subject: 'frank', roleId: reader.id, expiresAt: new Date(T0 + 60_000) }, 'as long as dave');
  });
});
