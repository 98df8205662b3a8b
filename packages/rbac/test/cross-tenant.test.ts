import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RbacChangeError, type Binding, type Role } from '../src/index.ts';
import { CATALOGUE, allowed, changeCount, check, openStore, snapshot, user, type Fixture } from './support/rbac-fixture.ts';

// org_a and org_b look alike on purpose: the same admin subject, the same role names, the same subject bound
// to a role called "reader" in a workspace called "w1". Nothing of org_b may ever count in org_a.

const ALICE = user('alice'); // the bootstrapped admin of both orgs
let f: Fixture;
let a: { admin: Role; reader: Role; bob: Binding };
let b: { admin: Role; reader: Role; bob: Binding; bobWorkspace: Binding };

beforeEach(async () => {
  f = await openStore();
  const bootA = await f.rbac.bootstrapTenant('ops', 'org_a', 'alice', 'first admin of org_a');
  const bootB = await f.rbac.bootstrapTenant('ops', 'org_b', 'alice', 'first admin of org_b');
  const readerA = await f.rbac.createRole(ALICE, 'org_a', { name: 'reader', capabilities: ['projects.read'] }, 'readers in a');
  const readerB = await f.rbac.createRole(ALICE, 'org_b', { name: 'reader', capabilities: ['tickets.read', 'tickets.write'] }, 'readers in b');
  a = { admin: bootA.role, reader: readerA, bob: await f.rbac.grant(ALICE, 'org_a', { subject: 'bob', roleId: readerA.id }, 'bob in a') };
  b = {
    admin: bootB.role,
    reader: readerB,
    bob: await f.rbac.grant(ALICE, 'org_b', { subject: 'bob', roleId: readerB.id }, 'bob in b'),
    bobWorkspace: await f.rbac.grant(ALICE, 'org_b', { subject: 'bob', roleId: bootB.role.id, workspace: 'w1' }, 'bob admin of b/w1'),
  };
});
afterEach(() => f.db.destroy());

/** What another tenant's id might look like when it reaches an admin operation. */
function lookAlikes(id: string): string[] {
  return [id, id.toUpperCase(), ` ${id}`, `${id} `, `${id}\u0000`, `${id}%`, '%', '*', `' or '1'='1`, `${id}' --`, ''];
}

describe('checks never cross tenants', () => {
  it("bob's org_b roles grant him nothing in org_a, for any capability, workspace or resource", async () => {
    for (const capability of CATALOGUE.filter((c) => c !== 'projects.read')) {
      for (const workspace of [null, 'w1']) {
        for (const resource of [null, { type: 'ticket', id: null }, { type: 'ticket', id: 't1' }]) {
          expect(await check(f.rbac, 'bob', 'org_a', capability, resource, workspace)).toEqual({
            kind: 'authorization',
            allowed: false,
            code: 'authz.missing_capability',
            capability,
            resource,
          });
          // The legal neighbour: the same check in org_b.
          if (workspace === 'w1' || capability === 'tickets.read' || capability === 'tickets.write') expect(await allowed(f.rbac, 'bob', 'org_b', capability, resource, workspace)).toBe(true);
        }
      }
    }
  });

  it("org_a's own grant still works in org_a and only there", async () => {
    expect(await allowed(f.rbac, 'bob', 'org_a', 'projects.read')).toBe(true);
    expect(await allowed(f.rbac, 'bob', 'org_b', 'projects.read')).toBe(false);
  });

  it('an org id that merely looks like org_b (case, spaces, prefixes) gets nothing', async () => {
    for (const org of ['ORG_B', 'Org_b', 'org_b ', ' org_b', 'org_b\u0000', 'org_', 'org_b/w1', 'org_%', '']) {
      expect(await allowed(f.rbac, 'bob', org, 'tickets.read')).toBe(false);
      expect(await allowed(f.rbac, 'alice', org, 'rbac.roles.manage')).toBe(false);
    }
  });

  it('a revoke in org_b leaves org_a alone and the reverse', async () => {
    await f.rbac.revoke(ALICE, 'org_b', b.bob.id, 'bob leaves b');
    expect(await allowed(f.rbac, 'bob', 'org_a', 'projects.read')).toBe(true);
    expect(await allowed(f.rbac, 'bob', 'org_b', 'tickets.read')).toBe(false);
  });
});

describe("admin operations with another tenant's ids are refused and change nothing", () => {
  it("grant naming org_b's role in org_a → ROLE_NOT_FOUND", async () => {
    const before = await snapshot(f.db);
    const records = await changeCount(f.db);
    for (const roleId of [...lookAlikes(b.reader.id), ...lookAlikes(b.admin.id)]) {
      const attempt = f.rbac.grant(ALICE, 'org_a', { subject: 'mallory', roleId }, 'cross-tenant grant');
      await expect(attempt).rejects.toBeInstanceOf(RbacChangeError);
      await expect(f.rbac.grant(ALICE, 'org_a', { subject: 'mallory', roleId }, 'cross-tenant grant')).rejects.toMatchObject({ code: 'ROLE_NOT_FOUND' });
    }
    expect(await snapshot(f.db)).toEqual(before);
    expect(await changeCount(f.db)).toBe(records);
    expect(await allowed(f.rbac, 'mallory', 'org_a', 'tickets.read')).toBe(false);
    // The legal neighbour: org_a's own role.
    await f.rbac.grant(ALICE, 'org_a', { subject: 'mallory', roleId: a.reader.id }, 'a legal grant');
    expect(await allowed(f.rbac, 'mallory', 'org_a', 'projects.read')).toBe(true);
  });

  it("updateRole on org_b's role through org_a → ROLE_NOT_FOUND, and org_b's role is unchanged", async () => {
    const before = await snapshot(f.db);
    for (const roleId of lookAlikes(b.reader.id)) {
      await expect(f.rbac.updateRole(ALICE, 'org_a', roleId, { capabilities: ['tickets.delete'], description: 'hijacked' }, 'cross-tenant edit')).rejects.toMatchObject({
        code: 'ROLE_NOT_FOUND',
      });
    }
    expect(await snapshot(f.db)).toEqual(before);
    expect((await f.rbac.listRoles('org_b')).find((r) => r.id === b.reader.id)).toEqual(b.reader);
    // The legal neighbour.
    const edited = await f.rbac.updateRole(ALICE, 'org_a', a.reader.id, { description: 'edited' }, 'a legal edit');
    expect(edited.description).toBe('edited');
  });

  it("deleteRole on org_b's role through org_a → ROLE_NOT_FOUND, and bob keeps his org_b access", async () => {
    const before = await snapshot(f.db);
    for (const roleId of [...lookAlikes(b.reader.id), ...lookAlikes(b.admin.id)]) {
      await expect(f.rbac.deleteRole(ALICE, 'org_a', roleId, 'cross-tenant delete')).rejects.toMatchObject({ code: 'ROLE_NOT_FOUND' });
    }
    expect(await snapshot(f.db)).toEqual(before);
    expect(await allowed(f.rbac, 'bob', 'org_b', 'tickets.read')).toBe(true);
    await f.rbac.deleteRole(ALICE, 'org_a', a.reader.id, 'a legal delete');
    expect(await f.rbac.listRoles('org_a')).toEqual([a.admin]);
  });

  it("revoke of org_b's binding through org_a → BINDING_NOT_FOUND, and the binding stays", async () => {
    const before = await snapshot(f.db);
    for (const bindingId of [...lookAlikes(b.bob.id), ...lookAlikes(b.bobWorkspace.id)]) {
      await expect(f.rbac.revoke(ALICE, 'org_a', bindingId, 'cross-tenant revoke')).rejects.toMatchObject({ code: 'BINDING_NOT_FOUND' });
    }
    expect(await snapshot(f.db)).toEqual(before);
    expect(await allowed(f.rbac, 'bob', 'org_b', 'tickets.read')).toBe(true);
    await f.rbac.revoke(ALICE, 'org_a', a.bob.id, 'a legal revoke');
    expect(await allowed(f.rbac, 'bob', 'org_a', 'projects.read')).toBe(false);
  });

  it('refused cross-tenant operations leave no change record and bump no epoch in either org', async () => {
    const before = { a: await f.rbac.changes('org_a'), b: await f.rbac.changes('org_b') };
    await expect(f.rbac.grant(ALICE, 'org_a', { subject: 'x', roleId: b.reader.id }, 'cross')).rejects.toMatchObject({ code: 'ROLE_NOT_FOUND' });
    await expect(f.rbac.revoke(ALICE, 'org_a', b.bob.id, 'cross')).rejects.toMatchObject({ code: 'BINDING_NOT_FOUND' });
    expect({ a: await f.rbac.changes('org_a'), b: await f.rbac.changes('org_b') }).toEqual(before);
  });

  it("bob, admin of org_b's workspace, holds nothing to delegate in org_a (escalation is judged per org)", async () => {
    const bob = user('bob');
    // Refused before what he holds is even weighed: he manages nothing in org_a (his org_b rights count for nothing there).
    await expect(f.rbac.grant(bob, 'org_a', { subject: 'carol', roleId: a.admin.id }, 'bob grants in a')).rejects.toMatchObject({
      code: 'ERR_RBAC_SCOPE_REFUSED',
    });
    await expect(f.rbac.createRole(bob, 'org_a', { name: 'mine', capabilities: ['tickets.read'] }, 'bob creates in a')).rejects.toMatchObject({
      code: 'ERR_RBAC_SCOPE_REFUSED',
    });
    // The legal neighbour: in org_b's w1, where bob is admin, he can grant what he holds.
    await f.rbac.grant(bob, 'org_b', { subject: 'carol', roleId: b.reader.id, workspace: 'w1' }, 'bob grants in b/w1');
    expect(await allowed(f.rbac, 'carol', 'org_b', 'tickets.read', null, 'w1')).toBe(true);
    expect(await allowed(f.rbac, 'carol', 'org_a', 'tickets.read', null, 'w1')).toBe(false);
  });

  it('lists and change records are per org', async () => {
    expect((await f.rbac.listRoles('org_a')).map((r) => r.id).sort()).toEqual([a.admin.id, a.reader.id].sort());
    expect((await f.rbac.listBindings('org_a')).every((x) => x.id !== b.bob.id && x.id !== b.bobWorkspace.id)).toBe(true);
    expect((await f.rbac.changes('org_a')).some((c) => JSON.stringify(c).includes(b.reader.id))).toBe(false);
  });
});

describe('the schema makes a cross-tenant binding impossible', () => {
  it("refuses a binding row in org_b that names org_a's role (composite foreign key on (org, role_id))", async () => {
    const row = {
      id: 'bind_forged',
      org: 'org_b',
      workspace: null,
      subject: 'mallory',
      role_id: a.admin.id,
      effect: 'allow' as const,
      resource_type: null,
      resource_id: null,
      expires_at: null,
      created_at: '2026-01-01T00:00:00.000Z',
      created_by: 'user:mallory',
    };
    await expect(f.db.insertInto('rbac_bindings').values(row).execute()).rejects.toThrow(/FOREIGN KEY/);
    expect(await allowed(f.rbac, 'mallory', 'org_b', 'tickets.read')).toBe(false);
    // The legal neighbour: the same row naming org_b's own role is accepted by the schema.
    await f.db.insertInto('rbac_bindings').values({ ...row, role_id: b.reader.id }).execute();
    expect((await f.rbac.listBindings('org_b', { subject: 'mallory' })).map((x) => x.roleId)).toEqual([b.reader.id]);
  });
});
