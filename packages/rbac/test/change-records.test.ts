import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RbacChangeError } from '../src/index.ts';
import { CATALOGUE, T0, allowed, changeCount, check, counterIds, epochOf, openStore, snapshot, user, type Fixture } from './support/rbac-fixture.ts';

// Every change to a policy is a record: who (actor), why (reason), what (before/after), in which request.
// The records are append-only; the ledger issue moves them into the signed log.

const ALICE = user('alice', 'req-1');
let f: Fixture;

beforeEach(async () => {
  f = await openStore({ ids: counterIds() });
});
afterEach(() => f.db.destroy());

const AT = new Date(T0).toISOString();

describe('tenant bootstrap', () => {
  it('is explicit, recorded with actor operator:<name>, and the first admin holds every catalogue capability', async () => {
    const { role, binding } = await f.rbac.bootstrapTenant('deploy-bot', 'org_a', 'alice', 'org_a signed the contract');
    expect(role).toEqual({ id: 'role_000001', name: 'admin', description: 'First administrator (bootstrap)', capabilities: [...CATALOGUE].sort(), createdAt: AT });
    expect(binding).toEqual({
      id: 'bind_000002',
      subject: 'alice',
      roleId: role.id,
      effect: 'allow',
      workspace: null,
      resource: null,
      expiresAt: null,
      createdAt: AT,
      createdBy: 'operator:deploy-bot',
    });
    expect(await f.rbac.changes('org_a')).toEqual([
      { seq: 1, actor: 'operator:deploy-bot', action: 'tenant.bootstrap', outcome: 'applied', reason: 'org_a signed the contract', before: null, after: { role, binding }, requestId: null, at: AT },
    ]);
    for (const capability of CATALOGUE) expect(await allowed(f.rbac, 'alice', 'org_a', capability)).toBe(true);
  });

  it('there is no default admin: a fresh org denies everything to everyone', async () => {
    await f.rbac.bootstrapTenant('ops', 'org_a', 'alice', 'another org');
    for (const subject of ['admin', 'root', 'operator', 'operator:ops', 'alice', 'system', '*']) {
      for (const capability of CATALOGUE) {
        expect(await check(f.rbac, subject, 'org_fresh', capability)).toEqual({ kind: 'authorization', allowed: false, code: 'authz.missing_capability', capability, resource: null });
      }
    }
    expect(await f.rbac.listRoles('org_fresh')).toEqual([]);
    expect(await f.rbac.listBindings('org_fresh')).toEqual([]);
  });

  it('is refused a second time (TENANT_ALREADY_BOOTSTRAPPED) and changes nothing', async () => {
    await f.rbac.bootstrapTenant('ops', 'org_a', 'alice', 'first admin');
    const before = await snapshot(f.db);
    const records = await changeCount(f.db);
    const again = f.rbac.bootstrapTenant('ops', 'org_a', 'mallory', 'a second first admin');
    await expect(again).rejects.toBeInstanceOf(RbacChangeError);
    await expect(f.rbac.bootstrapTenant('other-op', 'org_a', 'mallory', 'again')).rejects.toMatchObject({ code: 'TENANT_ALREADY_BOOTSTRAPPED' });
    expect(await snapshot(f.db)).toEqual(before);
    expect(await changeCount(f.db)).toBe(records);
    expect(await allowed(f.rbac, 'mallory', 'org_a', 'tickets.read')).toBe(false);
    // The legal neighbour: another org can still be bootstrapped.
    await f.rbac.bootstrapTenant('ops', 'org_b', 'mallory', 'mallory runs org_b');
    expect(await allowed(f.rbac, 'mallory', 'org_b', 'tickets.read')).toBe(true);
    expect(await allowed(f.rbac, 'mallory', 'org_a', 'tickets.read')).toBe(false);
  });

  it('refuses an unnamed operator or a non-identifier org or subject (TypeError), recording nothing', async () => {
    for (const [operator, org, subject] of [
      ['', 'org_a', 'alice'],
      ['   ', 'org_a', 'alice'],
      ['ops', '', 'alice'],
      ['ops', 'org a', 'alice'],
      ['ops', 'org_a', ''],
      ['ops', 'org_a', 'al ice'],
      ['ops', 'org_a', '*'],
    ] as const) {
      await expect(f.rbac.bootstrapTenant(operator, org, subject, 'bad bootstrap')).rejects.toThrow(TypeError);
    }
    expect(await changeCount(f.db)).toBe(0);
  });
});

describe('every change type is recorded with who, why and a before/after diff', () => {
  it('roles.create, roles.update, bindings.grant, bindings.revoke, roles.delete, newest first', async () => {
    await f.rbac.bootstrapTenant('ops', 'org_a', 'alice', 'first admin');
    f.clock.set(T0 + 1_000);
    const created = await f.rbac.createRole(ALICE, 'org_a', { name: 'reader', description: 'reads', capabilities: ['tickets.read'] }, 'readers needed');
    const updated = await f.rbac.updateRole(ALICE, 'org_a', created.id, { capabilities: ['tickets.read', 'projects.read'], description: null }, 'readers read projects');
    const binding = await f.rbac.grant(
      ALICE,
      'org_a',
      { subject: 'bob', roleId: created.id, workspace: 'w1', resource: { type: 'project', id: 'p1' }, expiresAt: new Date(T0 + 86_400_000) },
      'bob helps on p1',
    );
    await f.rbac.revoke(user('alice', 'req-2'), 'org_a', binding.id, 'p1 is done');
    const binding2 = await f.rbac.grant(ALICE, 'org_a', { subject: 'carol', roleId: created.id }, 'carol reads');
    await f.rbac.deleteRole(ALICE, 'org_a', created.id, 'readers retired');

    const at = new Date(T0 + 1_000).toISOString();
    const common = { actor: 'user:alice', outcome: 'applied', requestId: 'req-1', at };
    expect(created).toEqual({ id: 'role_000003', name: 'reader', description: 'reads', capabilities: ['tickets.read'], createdAt: at });
    expect(updated).toEqual({ ...created, description: null, capabilities: ['projects.read', 'tickets.read'] });
    expect(binding).toEqual({
      id: 'bind_000004',
      subject: 'bob',
      roleId: created.id,
      effect: 'allow',
      workspace: 'w1',
      resource: { type: 'project', id: 'p1' },
      expiresAt: new Date(T0 + 86_400_000).toISOString(),
      createdAt: at,
      createdBy: 'user:alice',
    });
    const records = await f.rbac.changes('org_a');
    expect(records.map((r) => r.seq)).toEqual([7, 6, 5, 4, 3, 2, 1]);
    expect(records.slice(0, 6)).toEqual([
      { ...common, seq: 7, action: 'roles.delete', reason: 'readers retired', before: { role: updated, bindings: [binding2] }, after: null },
      { ...common, seq: 6, action: 'bindings.grant', reason: 'carol reads', before: null, after: binding2 },
      { ...common, seq: 5, action: 'bindings.revoke', reason: 'p1 is done', before: binding, after: null, requestId: 'req-2' },
      { ...common, seq: 4, action: 'bindings.grant', reason: 'bob helps on p1', before: null, after: binding },
      { ...common, seq: 3, action: 'roles.update', reason: 'readers read projects', before: created, after: updated },
      { ...common, seq: 2, action: 'roles.create', reason: 'readers needed', before: null, after: created },
    ]);
    expect(records[6]).toMatchObject({ seq: 1, action: 'tenant.bootstrap', actor: 'operator:ops' });
    expect(await f.rbac.changes('org_a', { limit: 2 })).toEqual(records.slice(0, 2));
  });

  it('every applied change bumps the org epoch exactly once, and only that org', async () => {
    await f.rbac.bootstrapTenant('ops', 'org_a', 'alice', 'first admin');
    await f.rbac.bootstrapTenant('ops', 'org_b', 'alice', 'first admin');
    expect([await epochOf(f.db, 'org_a'), await epochOf(f.db, 'org_b')]).toEqual([1, 1]);
    const role = await f.rbac.createRole(ALICE, 'org_a', { name: 'reader', capabilities: ['tickets.read'] }, 'readers');
    const b = await f.rbac.grant(ALICE, 'org_a', { subject: 'bob', roleId: role.id }, 'bob');
    await f.rbac.revoke(ALICE, 'org_a', b.id, 'bob left');
    expect([await epochOf(f.db, 'org_a'), await epochOf(f.db, 'org_b')]).toEqual([4, 1]);
  });
});

describe('a change needs a reason', () => {
  const missing: Array<[string, unknown]> = [
    ['empty', ''],
    ['blank', '   '],
    ['too short', 'ok'],
    ['undefined', undefined],
    ['null', null],
    ['not a string', 42],
  ];

  it.each(missing)('a %s reason is refused with a TypeError for every change type, and changes nothing', async (_, reason) => {
    const { role, binding } = await f.rbac.bootstrapTenant('ops', 'org_a', 'alice', 'first admin');
    const before = await snapshot(f.db);
    const records = await changeCount(f.db);
    const r = reason as string;
    const attempts: Array<() => Promise<unknown>> = [
      () => f.rbac.bootstrapTenant('ops', 'org_b', 'bob', r),
      () => f.rbac.createRole(ALICE, 'org_a', { name: 'reader', capabilities: ['tickets.read'] }, r),
      () => f.rbac.updateRole(ALICE, 'org_a', role.id, { description: 'changed' }, r),
      () => f.rbac.deleteRole(ALICE, 'org_a', role.id, r),
      () => f.rbac.grant(ALICE, 'org_a', { subject: 'bob', roleId: role.id }, r),
      () => f.rbac.revoke(ALICE, 'org_a', binding.id, r),
    ];
    for (const attempt of attempts) await expect(attempt()).rejects.toThrow(TypeError);
    expect(await snapshot(f.db)).toEqual(before);
    expect(await changeCount(f.db)).toBe(records);
  });

  it('the legal neighbour: a three-character reason is enough', async () => {
    await f.rbac.bootstrapTenant('ops', 'org_a', 'alice', 'new');
    const role = await f.rbac.createRole(ALICE, 'org_a', { name: 'reader', capabilities: ['tickets.read'] }, 'why');
    expect((await f.rbac.changes('org_a', { limit: 1 }))[0]).toMatchObject({ action: 'roles.create', reason: 'why', after: role });
  });
});

describe('rbac_changes is append-only', () => {
  beforeEach(async () => {
    await f.rbac.bootstrapTenant('ops', 'org_a', 'alice', 'first admin');
    await f.rbac.createRole(ALICE, 'org_a', { name: 'reader', capabilities: ['tickets.read'] }, 'readers');
  });

  it('an UPDATE through kysely raises and changes nothing', async () => {
    const before = await f.rbac.changes('org_a');
    await expect(f.db.updateTable('rbac_changes').set({ actor: 'user:mallory' }).where('seq', '=', 1).execute()).rejects.toThrow(/append-only/);
    await expect(f.db.updateTable('rbac_changes').set({ reason: 'nothing happened' }).execute()).rejects.toThrow(/append-only/);
    expect(await f.rbac.changes('org_a')).toEqual(before);
  });

  it('a DELETE through kysely raises and changes nothing', async () => {
    const before = await f.rbac.changes('org_a');
    await expect(f.db.deleteFrom('rbac_changes').where('seq', '=', 1).execute()).rejects.toThrow(/append-only/);
    await expect(f.db.deleteFrom('rbac_changes').execute()).rejects.toThrow(/append-only/);
    expect(await f.rbac.changes('org_a')).toEqual(before);
  });

  it('raw SQL UPDATE and DELETE raise too, also inside a transaction that is then rolled back', async () => {
    const before = await f.rbac.changes('org_a');
    await expect(sql`update rbac_changes set outcome = 'refused'`.execute(f.db)).rejects.toThrow(/append-only/);
    await expect(sql`delete from rbac_changes where seq = 2`.execute(f.db)).rejects.toThrow(/append-only/);
    await expect(
      f.db.transaction().execute(async (trx) => {
        await sql`delete from rbac_changes`.execute(trx);
      }),
    ).rejects.toThrow(/append-only/);
    expect(await f.rbac.changes('org_a')).toEqual(before);
  });

  it('INSERT OR REPLACE over an existing record raises and changes nothing (it would bypass delete triggers)', async () => {
    const before = await f.rbac.changes('org_a');
    await expect(
      sql`insert or replace into rbac_changes (seq, org, actor, action, outcome, reason, at)
          values (1, 'org_a', 'user:mallory', 'nothing', 'applied', 'nothing happened', '2026-01-01T00:00:00.000Z')`.execute(f.db),
    ).rejects.toThrow(/append-only/);
    expect(await f.rbac.changes('org_a')).toEqual(before);
  });

  it('the legal neighbour: appending is allowed (that is how every change is recorded)', async () => {
    const records = await changeCount(f.db);
    await f.rbac.grant(ALICE, 'org_a', { subject: 'bob', roleId: (await f.rbac.listRoles('org_a'))[0]!.id }, 'bob');
    expect(await changeCount(f.db)).toBe(records + 1);
  });
});

describe('capabilities declared after a tenant was bootstrapped', () => {
  it('cannot be granted by anyone in the org until the operator extends the bootstrap role, which is recorded', async () => {
    await f.rbac.bootstrapTenant('ops', 'org_a', 'alice', 'first admin');
    await f.rbac.registerCapabilities(['reports.export'], 'contract');
    // Nobody holds the new capability, so nobody may put it in a role.
    await expect(f.rbac.createRole(ALICE, 'org_a', { name: 'exporter', capabilities: ['reports.export'] }, 'exports')).rejects.toMatchObject({
      code: 'ERR_RBAC_ESCALATION_REFUSED',
    });
    const added = await f.rbac.extendBootstrapRole('ops', 'org_a', 'new contract: reports');
    expect(added).toEqual(['reports.export']);
    expect(await allowed(f.rbac, 'alice', 'org_a', 'reports.export')).toBe(true);
    await f.rbac.createRole(ALICE, 'org_a', { name: 'exporter', capabilities: ['reports.export'] }, 'exports');
    const [, extended] = await f.rbac.changes('org_a', { limit: 2 });
    expect(extended).toMatchObject({ actor: 'operator:ops', action: 'tenant.extend_bootstrap_role', outcome: 'applied', reason: 'new contract: reports' });
    expect(await f.rbac.extendBootstrapRole('ops', 'org_a', 'nothing new')).toEqual([]);
  });

  it('is refused for an org that was never bootstrapped or whose bootstrap role is gone', async () => {
    await expect(f.rbac.extendBootstrapRole('ops', 'org_x', 'no such tenant')).rejects.toMatchObject({ code: 'ROLE_NOT_FOUND' });
    const { role } = await f.rbac.bootstrapTenant('ops', 'org_a', 'alice', 'first admin');
    // Another admin role first: deleting the only one would leave nobody managing the org (ORG_UNMANAGEABLE).
    const admins = await f.rbac.createRole(ALICE, 'org_a', { name: 'admins', capabilities: [...CATALOGUE] }, 'the new admin role');
    await f.rbac.grant(ALICE, 'org_a', { subject: 'alice', roleId: admins.id }, 'alice moves over');
    await f.rbac.deleteRole(ALICE, 'org_a', role.id, 'start over');
    const records = await changeCount(f.db);
    await expect(f.rbac.extendBootstrapRole('ops', 'org_a', 'extend anyway')).rejects.toMatchObject({ code: 'ROLE_NOT_FOUND' });
    expect(await changeCount(f.db)).toBe(records);
    await expect(f.rbac.extendBootstrapRole('', 'org_a', 'who?')).rejects.toThrow(TypeError);
  });
});
