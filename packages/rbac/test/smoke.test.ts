import { describe, expect, it } from 'vitest';
import { createDatabase, migrateToLatest } from '@covenant/db';
import { createRbacStore, type RbacTables } from '../src/index.ts';

const principal = (subject: string, org: string) =>
  ({ subject, tenant: { org, workspace: null }, session: null, tokenId: null, issuer: 'i', issuedAt: null, expiresAt: 0 }) as const;

describe('smoke', () => {
  it('bootstraps, grants, checks and revokes', async () => {
    const db = createDatabase<RbacTables>({ url: ':memory:' });
    await migrateToLatest(db);
    const rbac = createRbacStore({ db });
    await rbac.registerCapabilities(['tickets.read', 'tickets.write', 'rbac.roles.manage', 'rbac.bindings.manage'], 'contract');
    const { role } = await rbac.bootstrapTenant('ops', 'org_a', 'alice', 'first admin of org_a');
    expect(role.capabilities).toHaveLength(4);
    const alice = { id: 'user:alice', subject: 'alice', requestId: null };
    const reader = await rbac.createRole(alice, 'org_a', { name: 'reader', capabilities: ['tickets.read'] }, 'readers');
    const binding = await rbac.grant(alice, 'org_a', { subject: 'bob', roleId: reader.id }, 'bob reads');
    expect((await rbac.check({ principal: principal('bob', 'org_a'), capability: 'tickets.read', resource: null })).allowed).toBe(true);
    expect((await rbac.check({ principal: principal('bob', 'org_b'), capability: 'tickets.read', resource: null })).allowed).toBe(false);
    await rbac.revoke(alice, 'org_a', binding.id, 'bob left');
    expect((await rbac.check({ principal: principal('bob', 'org_a'), capability: 'tickets.read', resource: null })).allowed).toBe(false);
    const bob = { id: 'user:bob', subject: 'bob', requestId: null };
    await expect(rbac.createRole(bob, 'org_a', { name: 'x', capabilities: ['tickets.write'] }, 'sneaky')).rejects.toMatchObject({ code: 'ERR_RBAC_ESCALATION_REFUSED' });
    const changes = await rbac.changes('org_a');
    expect(changes.map((c) => `${c.action}:${c.outcome}`)).toEqual(['roles.create:refused', 'bindings.revoke:applied', 'bindings.grant:applied', 'roles.create:applied', 'tenant.bootstrap:applied']);
    await db.destroy();
  });
});
