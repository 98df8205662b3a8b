import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCheckpointSigner, decodeEntry, verifyLedger, type LedgerEntry } from '@covenant/ledger';
import { createTestIssuer, type TestIssuer } from '@covenant/testkit';
import { sql, type Kysely } from 'kysely';
import { pino } from 'pino';
import { createClient } from '../src/generated/client.ts';
import { createService, SERVED_CAPABILITIES, type Service } from '../src/service.ts';
import { rawCall } from './harness.ts';
import { expectRefused, refusal } from './refusals.ts';

// The service exactly as `npm start` assembles it (createService), on a temp SQLite file, over real HTTP,
// with a test issuer. org_a's first admin is alice, org_b's is mallory; both are bootstrapped explicitly.
let dir: string;
let service: Service;
let issuer: TestIssuer;
let url: string;
const db = (): Kysely<any> => service.db as unknown as Kysely<any>;

const SIGNER = createCheckpointSigner({ name: 'test.example/ledger', privateKey: new Uint8Array(32).fill(7) });

/** The helpdesk's ticket capabilities (declared by its contracts; registering them again is a no-op). */
const TICKETS = ['tickets.read', 'tickets.write'];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'covenant-rbac-admin-'));
  issuer = await createTestIssuer();
  service = await createService({
    identity: issuer.verifierOptions(),
    databaseUrl: join(dir, 'covenant.db'),
    logger: pino({ level: 'silent' }),
    ledgerSigner: SIGNER,
  });
  await service.rbac.registerCapabilities(TICKETS, 'registered');
  // Operator changes outside a request go through a ledger transaction too (as `covenant rbac bootstrap` does).
  for (const [org, admin] of [['org_a', 'alice'], ['org_b', 'mallory']] as const) {
    await service.ledger.transact((tx) => service.rbac.bind(tx.db).bootstrapTenant('test-operator', org, admin, `first admin of ${org} (test)`));
  }
  await new Promise<void>((resolve) => service.server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(service.server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await service.close();
  await rm(dir, { recursive: true, force: true });
});

async function token(sub: string, org: string, workspace?: string): Promise<string> {
  return issuer.mint({ sub, org, ...(workspace !== undefined ? { workspace } : {}) });
}

async function as(sub: string, org: string, workspace?: string) {
  const t = await token(sub, org, workspace);
  return createClient({ url, token: () => t });
}

/** Everything an org's policy is: roles, bindings and the change log, as the store holds them. */
async function policyOf(org: string) {
  return {
    roles: await service.rbac.listRoles(org),
    bindings: await service.rbac.listBindings(org),
    changes: await service.rbac.changes(org, { limit: 1000 }),
  };
}

/** The ledger entries of one request, in log order (after every queued append has committed). */
async function entriesOf(requestId: string): Promise<LedgerEntry[]> {
  await service.ledger.flush();
  const rows = await db().selectFrom('ledger_entries').select('body').where('request_id', '=', requestId).orderBy('seq').execute();
  return rows.map((row: { body: Uint8Array }) => decodeEntry(new Uint8Array(row.body)));
}

describe('bootstrapped admins', () => {
  it('alice holds every catalogue capability in org_a: the contracts’ and the registered ones', async () => {
    const alice = await as('alice', 'org_a');
    const { roles } = await alice.rbac.roles.list.query({});
    expect(roles).toEqual([expect.objectContaining({ name: 'admin', capabilities: [...new Set([...SERVED_CAPABILITIES, ...TICKETS])].sort() })]);
    expect(SERVED_CAPABILITIES).toEqual([
      'comments.write',
      'customers.read',
      'customers.write',
      'ledger.read',
      'rbac.bindings.manage',
      'rbac.bindings.read',
      'rbac.changes.read',
      'rbac.roles.manage',
      'rbac.roles.read',
      'sessions.revoke',
      'tickets.close',
      'tickets.read',
      'tickets.write',
    ]);
    const { bindings } = await alice.rbac.bindings.list.query({ subject: 'alice' });
    expect(bindings).toEqual([
      expect.objectContaining({ subject: 'alice', roleId: roles[0]!.id, effect: 'allow', workspace: null, resource: null, createdBy: 'operator:test-operator' }),
    ]);
  });
});

describe('roles and bindings over HTTP', () => {
  it('creates, updates and deletes a role; every change is recorded with who, why, before/after, and audited first', async () => {
    const alice = await as('alice', 'org_a');
    const created = await alice.rbac.roles.create.mutate({
      name: 'auditor',
      description: 'reads roles',
      capabilities: ['rbac.roles.read'],
      reason: 'quarterly access review',
    });
    expect(created).toMatchObject({ name: 'auditor', description: 'reads roles', capabilities: ['rbac.roles.read'] });
    const updated = await alice.rbac.roles.update.mutate({
      roleId: created.id,
      capabilities: ['rbac.roles.read', 'rbac.changes.read'],
      reason: 'auditors read the change log too',
    });
    expect(updated).toMatchObject({ id: created.id, description: 'reads roles', capabilities: ['rbac.changes.read', 'rbac.roles.read'] });
    const cleared = await alice.rbac.roles.update.mutate({ roleId: created.id, description: null, reason: 'no description' });
    expect(cleared).toMatchObject({ description: null, capabilities: ['rbac.changes.read', 'rbac.roles.read'] });

    const { changes } = await alice.rbac.changes.list.query({ limit: 3 });
    expect(changes.map((c) => [c.action, c.outcome, c.actor, c.reason])).toEqual([
      ['roles.update', 'applied', 'user:alice', 'no description'],
      ['roles.update', 'applied', 'user:alice', 'auditors read the change log too'],
      ['roles.create', 'applied', 'user:alice', 'quarterly access review'],
    ]);
    expect(changes[1]).toMatchObject({
      before: { capabilities: ['rbac.roles.read'] },
      after: { capabilities: ['rbac.changes.read', 'rbac.roles.read'] },
    });
    // The change record and the ledger name the same request: the intent first, then the change's own
    // entry and the ok outcome, committed together in one later batch.
    for (const change of changes) {
      const entries = await entriesOf(change.requestId!);
      expect(entries.map((e) => [e.kind, e.action, e.outcome])).toEqual([
        ['intent', `rbac.${change.action}`, null],
        ['event', `rbac.${change.action}`, null],
        ['outcome', `rbac.${change.action}`, 'ok'],
      ]);
      expect(entries[0]).toMatchObject({ actor: { subject: 'alice' }, tenant: { org: 'org_a' }, data: { call: 'mutation' } });
      expect(entries[0]!.seq).toBeLessThan(entries[1]!.seq);
      // The role records as the contract classifies them: the free-text description redacted, the rest as is.
      const onLedger = (role: unknown) => (role === null ? null : { ...(role as object), description: '[redacted:free-text]' });
      expect(entries[1]).toMatchObject({
        actor: { subject: 'user:alice' },
        data: { change: 'applied', before: onLedger(change.before), after: onLedger(change.after) },
      });
      expect(entries[1]!.at).toBe(entries[2]!.at); // one batch, one commit
    }
    expect(JSON.stringify(await entriesOf(changes[2]!.requestId!))).not.toContain('quarterly access review'); // the reason only as a digest

    await expect(alice.rbac.roles.delete.mutate({ roleId: created.id, reason: 'review done' })).resolves.toEqual({ id: created.id, deleted: true });
    expect((await alice.rbac.roles.list.query({})).roles.map((r) => r.name)).not.toContain('auditor');
    expect((await alice.rbac.changes.list.query({ limit: 1 })).changes[0]).toMatchObject({
      action: 'roles.delete',
      before: { role: { id: created.id } },
      after: null,
    });
  });

  it('answers the declared errors: ROLE_EXISTS 409, UNKNOWN_CAPABILITY 422, ROLE_NOT_FOUND and BINDING_NOT_FOUND 404, INVALID_BINDING 422', async () => {
    const alice = await as('alice', 'org_a');
    await alice.rbac.roles.create.mutate({ name: 'dup', capabilities: [], reason: 'first of its name' });
    const reason = 'testing refusals';
    await expectRefused(alice.rbac.roles.create.mutate({ name: 'dup', capabilities: [], reason }), 409, 'ROLE_EXISTS');
    await expectRefused(alice.rbac.roles.create.mutate({ name: 'ghost', capabilities: ['tickets.delete'], reason }), 422, 'UNKNOWN_CAPABILITY');
    await expectRefused(alice.rbac.roles.create.mutate({ name: 'wild', capabilities: ['tickets.*'], reason }), 422, 'UNKNOWN_CAPABILITY');
    await expectRefused(alice.rbac.roles.update.mutate({ roleId: 'role_nope', capabilities: [], reason }), 404, 'ROLE_NOT_FOUND');
    await expectRefused(alice.rbac.roles.delete.mutate({ roleId: 'role_nope', reason }), 404, 'ROLE_NOT_FOUND');
    await expectRefused(alice.rbac.bindings.grant.mutate({ subject: 'bob', roleId: 'role_nope', reason }), 404, 'ROLE_NOT_FOUND');
    await expectRefused(alice.rbac.bindings.revoke.mutate({ bindingId: 'bind_nope', reason }), 404, 'BINDING_NOT_FOUND');
    const dup = (await alice.rbac.roles.list.query({})).roles.find((r) => r.name === 'dup')!;
    for (const bad of [
      { subject: 'two words' },
      { subject: 'bob', inWorkspace: 'ws 1' },
      { subject: 'bob', resource: { type: 'Ticket', id: 't1' } },
      { subject: 'bob', resource: { type: 'ticket', id: 't*' } },
    ]) {
      await expectRefused(alice.rbac.bindings.grant.mutate({ roleId: dup.id, reason, ...bad }), 422, 'INVALID_BINDING');
    }
    expect(await service.rbac.listBindings('org_a', { subject: 'bob' })).toEqual([]);
  });

  it('refuses invalid input with 400 before anything changes: reason required (3–500), strict objects, bounded sizes', async () => {
    const alice = await as('alice', 'org_a');
    const before = await policyOf('org_a');
    // Thunks, called one at a time: promises made up front could reject before anything awaits them.
    const invalid: Array<[string, () => Promise<unknown>]> = [
      ['no reason', () => alice.rbac.roles.create.mutate({ name: 'x', capabilities: [] } as never)],
      ['a blank reason', () => alice.rbac.roles.create.mutate({ name: 'x', capabilities: [], reason: '   ' })],
      ['a two-letter reason', () => alice.rbac.bindings.revoke.mutate({ bindingId: 'b', reason: 'no' })],
      ['a 501-character reason', () => alice.rbac.roles.delete.mutate({ roleId: 'r', reason: 'x'.repeat(501) })],
      ['an unknown key', () => alice.rbac.roles.create.mutate({ name: 'x', capabilities: [], reason: 'ok ok', admin: true } as never)],
      ['an upper-case role name', () => alice.rbac.roles.create.mutate({ name: 'Admin', capabilities: [], reason: 'ok ok' })],
      ['201 capabilities', () => alice.rbac.roles.create.mutate({ name: 'x', capabilities: Array(201).fill('rbac.roles.read'), reason: 'ok ok' })],
      ['an effect other than allow or deny', () => alice.rbac.bindings.grant.mutate({ subject: 'b', roleId: 'r', effect: 'maybe', reason: 'ok ok' } as never)],
      ['a non-ISO expiry', () => alice.rbac.bindings.grant.mutate({ subject: 'b', roleId: 'r', expiresAt: 'tomorrow', reason: 'ok ok' })],
      ['an unknown key in the resource', () => alice.rbac.bindings.grant.mutate({ subject: 'b', roleId: 'r', resource: { type: 't', id: '1', org: 'x' }, reason: 'ok ok' } as never)],
      ['a 256-character subject', () => alice.rbac.bindings.list.query({ subject: 's'.repeat(256) })],
      ['a limit over 200', () => alice.rbac.changes.list.query({ limit: 201 })],
    ];
    for (const [what, call] of invalid) {
      const error = await refusal(call());
      expect({ what, status: error.httpStatus, code: error.code }).toEqual({ what, status: 400, code: 'ERR_INPUT_INVALID' });
    }
    expect(await policyOf('org_a')).toEqual(before);
  });

  it("a grant takes effect for the grantee's very next call; a revoke makes the next call 403", async () => {
    const alice = await as('alice', 'org_a');
    const bob = await as('bob', 'org_a');
    await expectRefused(bob.rbac.bindings.list.query({}), 403, 'ERR_AUTHZ_DENIED');
    const role = await alice.rbac.roles.create.mutate({ name: 'binding-reader', capabilities: ['rbac.bindings.read'], reason: 'bob reads bindings' });
    // Several rounds, each call right after the change: a cached decision would show up as a stale answer.
    for (let round = 0; round < 5; round += 1) {
      const granted = await alice.rbac.bindings.grant.mutate({ subject: 'bob', roleId: role.id, reason: `round ${round}: grant` });
      expect(granted).toMatchObject({ subject: 'bob', roleId: role.id, effect: 'allow', workspace: null, resource: null, expiresAt: null, createdBy: 'user:alice' });
      const { bindings } = await bob.rbac.bindings.list.query({ subject: 'bob' });
      expect(bindings.map((b) => b.id)).toEqual([granted.id]);
      await expect(alice.rbac.bindings.revoke.mutate({ bindingId: granted.id, reason: `round ${round}: revoke` })).resolves.toEqual({
        id: granted.id,
        revoked: true,
      });
      await expectRefused(bob.rbac.bindings.list.query({}), 403, 'ERR_AUTHZ_DENIED');
    }
  });

  it('a deny binding wins over an allow; an expired binding grants nothing; a workspace binding only in that workspace', async () => {
    const alice = await as('alice', 'org_a');
    const role = await alice.rbac.roles.create.mutate({ name: 'role-reader', capabilities: ['rbac.roles.read'], reason: 'scoping tests' });

    const carl = await as('carl', 'org_a');
    await alice.rbac.bindings.grant.mutate({ subject: 'carl', roleId: role.id, reason: 'allow carl' });
    await expect(carl.rbac.roles.list.query({})).resolves.toBeDefined();
    const deny = await alice.rbac.bindings.grant.mutate({ subject: 'carl', roleId: role.id, effect: 'deny', reason: 'deny carl' });
    expect(deny.effect).toBe('deny');
    await expectRefused(carl.rbac.roles.list.query({}), 403, 'ERR_AUTHZ_DENIED');

    await alice.rbac.bindings.grant.mutate({ subject: 'erin', roleId: role.id, expiresAt: '2001-01-01T00:00:00Z', reason: 'already expired' });
    await expectRefused((await as('erin', 'org_a')).rbac.roles.list.query({}), 403, 'ERR_AUTHZ_DENIED');
    const later = await alice.rbac.bindings.grant.mutate({ subject: 'erin', roleId: role.id, expiresAt: '2999-01-01T00:00:00+02:00', reason: 'until 2999' });
    expect(later.expiresAt).toBe('2998-12-31T22:00:00.000Z');
    await expect((await as('erin', 'org_a')).rbac.roles.list.query({})).resolves.toBeDefined();

    const scoped = await alice.rbac.bindings.grant.mutate({ subject: 'finn', roleId: role.id, inWorkspace: 'ws_1', reason: 'only in ws_1' });
    expect(scoped.workspace).toBe('ws_1');
    await expect((await as('finn', 'org_a', 'ws_1')).rbac.roles.list.query({})).resolves.toBeDefined();
    await expectRefused((await as('finn', 'org_a', 'ws_2')).rbac.roles.list.query({}), 403, 'ERR_AUTHZ_DENIED');
    await expectRefused((await as('finn', 'org_a')).rbac.roles.list.query({}), 403, 'ERR_AUTHZ_DENIED');
  });
});

describe('cross-tenant: mallory (org_b admin) and org_a', () => {
  it("every admin procedure called with org_a's role and binding ids is refused as not found, and org_a is unchanged", async () => {
    const alice = await as('alice', 'org_a');
    const target = await alice.rbac.roles.create.mutate({ name: 'org-a-secret', capabilities: ['rbac.roles.read'], reason: 'target of the test' });
    const targetBinding = await alice.rbac.bindings.grant.mutate({ subject: 'gina', roleId: target.id, reason: 'target binding' });
    const [adminBinding] = await service.rbac.listBindings('org_a', { subject: 'alice' });
    const before = await policyOf('org_a');

    const mallory = await as('mallory', 'org_b');
    const reason = 'cross-tenant attempt';
    for (const roleId of [target.id, before.roles.find((r) => r.name === 'admin')!.id]) {
      await expectRefused(mallory.rbac.roles.update.mutate({ roleId, capabilities: [], reason }), 404, 'ROLE_NOT_FOUND');
      await expectRefused(mallory.rbac.roles.update.mutate({ roleId, description: 'pwned', reason }), 404, 'ROLE_NOT_FOUND');
      await expectRefused(mallory.rbac.roles.delete.mutate({ roleId, reason }), 404, 'ROLE_NOT_FOUND');
      await expectRefused(mallory.rbac.bindings.grant.mutate({ subject: 'mallory', roleId, reason }), 404, 'ROLE_NOT_FOUND');
      await expectRefused(mallory.rbac.bindings.grant.mutate({ subject: 'mallory', roleId, effect: 'deny', reason }), 404, 'ROLE_NOT_FOUND');
    }
    for (const bindingId of [targetBinding.id, adminBinding!.id]) {
      await expectRefused(mallory.rbac.bindings.revoke.mutate({ bindingId, reason }), 404, 'BINDING_NOT_FOUND');
    }
    expect(await policyOf('org_a')).toEqual(before);

    // A role of the same name in org_b is org_b's own: no conflict, no effect on org_a.
    await expect(mallory.rbac.roles.create.mutate({ name: 'org-a-secret', capabilities: [], reason: 'same name, other org' })).resolves.toBeDefined();
    expect(await policyOf('org_a')).toEqual(before);
  });

  it("mallory's lists show nothing of org_a", async () => {
    const mallory = await as('mallory', 'org_b');
    const orgA = await policyOf('org_a');
    const { roles } = await mallory.rbac.roles.list.query({});
    const { bindings } = await mallory.rbac.bindings.list.query({});
    const { changes } = await mallory.rbac.changes.list.query({ limit: 200 });
    const roleIdsA = new Set(orgA.roles.map((r) => r.id));
    const bindingIdsA = new Set(orgA.bindings.map((b) => b.id));
    expect(roles.some((r) => roleIdsA.has(r.id))).toBe(false);
    expect(bindings.some((b) => bindingIdsA.has(b.id) || roleIdsA.has(b.roleId))).toBe(false);
    expect(await mallory.rbac.bindings.list.query({ subject: 'alice' })).toEqual({ bindings: [] });
    expect(await mallory.rbac.bindings.list.query({ subject: 'gina' })).toEqual({ bindings: [] });
    const text = JSON.stringify(changes);
    for (const id of [...roleIdsA, ...bindingIdsA]) expect(text).not.toContain(id);
    expect(text).not.toContain('user:alice');
  });

  it('a token of org_a does not make mallory an org_a admin, nor does anything mallory grants in org_b', async () => {
    const mallory = await as('mallory', 'org_b');
    const admin = (await mallory.rbac.roles.list.query({})).roles.find((r) => r.name === 'admin')!;
    await mallory.rbac.bindings.grant.mutate({ subject: 'mallory', roleId: admin.id, reason: 'my own org only' });
    await expectRefused((await as('mallory', 'org_a')).rbac.roles.list.query({}), 403, 'ERR_AUTHZ_DENIED');
  });
});

describe('tenancy keys in rbac inputs', () => {
  const PROCEDURES: Array<[string, 'GET' | 'POST', Record<string, unknown>]> = [
    ['rbac.roles.list', 'GET', {}],
    ['rbac.roles.create', 'POST', { name: 'x', capabilities: [], reason: 'ok ok' }],
    ['rbac.roles.update', 'POST', { roleId: 'r', reason: 'ok ok' }],
    ['rbac.roles.delete', 'POST', { roleId: 'r', reason: 'ok ok' }],
    ['rbac.bindings.list', 'GET', {}],
    ['rbac.bindings.grant', 'POST', { subject: 's', roleId: 'r', resource: { type: 't', id: '1' }, reason: 'ok ok' }],
    ['rbac.bindings.revoke', 'POST', { bindingId: 'b', reason: 'ok ok' }],
    ['rbac.changes.list', 'GET', {}],
  ];
  for (const [path, method, input] of PROCEDURES) {
    it(`${path}: orgId, workspace_id, TenantID at any depth → 400, nothing changed`, async () => {
      const t = await token('alice', 'org_a');
      const before = await policyOf('org_b');
      const hostile: Array<[Record<string, unknown>, string]> = [
        [{ ...input, orgId: 'org_b' }, 'orgId'],
        [{ ...input, workspace_id: 'ws_1' }, 'workspace_id'],
        [{ ...input, nested: [{ TenantID: 'org_b' }] }, 'nested.0.TenantID'],
        ...(path === 'rbac.bindings.grant' ? [[{ ...input, resource: { type: 't', id: '1', 'org-id': 'org_b' } }, 'resource.org-id'] as [Record<string, unknown>, string]] : []),
      ];
      for (const [body, at] of hostile) {
        const result = await rawCall(url, path, { token: t, method, input: body });
        expect(result.status).toBe(400);
        expect(result.body.error.data.code).toBe('ERR_TENANCY_KEY_IN_INPUT');
        expect(result.body.error.message).toContain(`"${at}"`);
      }
      expect(await policyOf('org_b')).toEqual(before);
    });
  }
});

describe('escalation through delegation', () => {
  it('a user holding only rbac.bindings.manage + tickets.read cannot grant a role with tickets.write: 403, recorded as refused', async () => {
    const alice = await as('alice', 'org_a');
    const binder = await alice.rbac.roles.create.mutate({ name: 'binder', capabilities: ['rbac.bindings.manage', 'tickets.read'], reason: 'helpdesk lead' });
    const writer = await alice.rbac.roles.create.mutate({ name: 'ticket-writer', capabilities: ['tickets.write'], reason: 'agents' });
    const reader = await alice.rbac.roles.create.mutate({ name: 'ticket-reader', capabilities: ['tickets.read'], reason: 'viewers' });
    await alice.rbac.bindings.grant.mutate({ subject: 'carol', roleId: binder.id, reason: 'carol leads the helpdesk' });

    const carol = await as('carol', 'org_a');
    const error = await expectRefused(
      carol.rbac.bindings.grant.mutate({ subject: 'dave', roleId: writer.id, reason: 'dave needs to write' }),
      403,
      'ERR_RBAC_ESCALATION_REFUSED',
    );
    expect(error.message).toBe('You cannot grant capabilities you do not hold');
    expect(await service.rbac.listBindings('org_a', { subject: 'dave' })).toEqual([]);

    // Recorded on the ledger: the refusal (kept although the call rolled back) and the call's failed outcome.
    const entries = await entriesOf(error.requestId!);
    expect(entries.map((e) => [e.kind, e.outcome])).toEqual([
      ['intent', null],
      ['outcome', 'failed'],
      ['denial', null],
    ]);
    expect(entries[0]).toMatchObject({ action: 'rbac.bindings.grant', actor: { subject: 'carol' } });
    expect(entries[1]).toMatchObject({ data: { code: 'ERR_RBAC_ESCALATION_REFUSED' } });
    expect(entries[2]).toMatchObject({
      action: 'rbac.bindings.grant',
      actor: { subject: 'user:carol' },
      data: { change: 'refused', after: { attempted: { subject: '[redacted:identifier]', roleId: writer.id }, missing: ['tickets.write'] } },
    });
    // The refused attempt left nothing in the policy, and stays in its change log (the call rolled back; the
    // refusal's record did not go with it).
    expect((await alice.rbac.changes.list.query({ limit: 1 })).changes[0]).toMatchObject({
      action: 'bindings.grant',
      outcome: 'refused',
      actor: 'user:carol',
      requestId: error.requestId,
      after: { attempted: { subject: 'dave', roleId: writer.id }, missing: ['tickets.write'] },
    });

    // What carol holds, she may hand out — within her scope: not beyond her own (org-wide, unexpiring) grant.
    await expect(carol.rbac.bindings.grant.mutate({ subject: 'dave', roleId: reader.id, reason: 'dave reads tickets' })).resolves.toMatchObject({
      subject: 'dave',
      createdBy: 'user:carol',
    });
    // Nor can she make a role that holds what she lacks (she has no rbac.roles.manage at all).
    await expectRefused(
      carol.rbac.roles.update.mutate({ roleId: reader.id, capabilities: ['tickets.read', 'tickets.write'], reason: 'widen' }),
      403,
      'ERR_AUTHZ_DENIED',
    );
  });

  it('a role manager cannot put a capability it lacks into a role: 403 ERR_RBAC_ESCALATION_REFUSED, role unchanged', async () => {
    const alice = await as('alice', 'org_a');
    const shaper = await alice.rbac.roles.create.mutate({ name: 'shaper', capabilities: ['rbac.roles.manage', 'rbac.roles.read', 'tickets.read'], reason: 'role manager' });
    await alice.rbac.bindings.grant.mutate({ subject: 'hank', roleId: shaper.id, reason: 'hank shapes roles' });
    const hank = await as('hank', 'org_a');
    await expectRefused(hank.rbac.roles.create.mutate({ name: 'sneaky', capabilities: ['tickets.write'], reason: 'try' }), 403, 'ERR_RBAC_ESCALATION_REFUSED');
    const own = await hank.rbac.roles.create.mutate({ name: 'hank-readers', capabilities: ['tickets.read'], reason: 'fine' });
    await expectRefused(
      hank.rbac.roles.update.mutate({ roleId: own.id, capabilities: ['tickets.read', 'tickets.write'], reason: 'widen' }),
      403,
      'ERR_RBAC_ESCALATION_REFUSED',
    );
    expect((await service.rbac.listRoles('org_a')).find((r) => r.id === own.id)?.capabilities).toEqual(['tickets.read']);
    expect((await service.rbac.listRoles('org_a')).some((r) => r.name === 'sneaky')).toBe(false);
  });

  it('a user without rbac.roles.manage gets 403 before validation (an invalid input still answers 403), and the denial is recorded', async () => {
    const carol = await as('carol', 'org_a');
    const error = await expectRefused(carol.rbac.roles.create.mutate({ nonsense: 1 } as never), 403, 'ERR_AUTHZ_DENIED');
    expect(error.issues).toEqual([]);
    expect(await entriesOf(error.requestId!)).toEqual([
      expect.objectContaining({
        kind: 'denial',
        action: 'rbac.roles.create',
        actor: { subject: 'carol', session: null },
        tenant: { org: 'org_a', workspace: null },
        data: { code: 'authz.missing_capability', capability: 'rbac.roles.manage', resourceType: null },
      }),
    ]);
  });
});

describe('issue 12: a workspace-scoped admin cannot lock the org admins out', () => {
  /** The policy without its change log: what a refused change must leave exactly as it was. */
  const rolesAndBindings = async (org: string) => {
    const { roles, bindings } = await policyOf(org);
    return { roles, bindings };
  };

  it('sue, holding rbac.bindings.manage only in org_a/support, can neither revoke the org-wide admin binding nor deny the admins their role: refused, nothing changed, refusals listed and on the ledger', async () => {
    const alice = await as('alice', 'org_a');
    const admin = (await alice.rbac.roles.list.query({})).roles.find((r) => r.name === 'admin')!;
    await alice.rbac.bindings.grant.mutate({ subject: 'amy', roleId: admin.id, reason: 'a second org admin' });
    const lead = await alice.rbac.roles.create.mutate({
      name: 'support-lead',
      capabilities: ['rbac.bindings.manage', 'rbac.bindings.read', 'tickets.read', 'tickets.write'],
      reason: 'leads of one workspace',
    });
    await alice.rbac.bindings.grant.mutate({ subject: 'sue', roleId: lead.id, inWorkspace: 'support', reason: 'sue leads support' });
    const adminBindings = (await service.rbac.listBindings('org_a')).filter((b) => b.roleId === admin.id && b.workspace === null);
    expect(adminBindings.map((b) => b.subject).sort()).toEqual(['alice', 'amy']);
    const before = await rolesAndBindings('org_a');
    const changesBefore = (await service.rbac.changes('org_a', { limit: 1000 })).length;

    // The attack, from her support token: the pipeline lets the calls through (she holds
    // rbac.bindings.manage there); the store refuses each change, which reaches outside support.
    const reason = 'taking over the org';
    const sueInSupport = await as('sue', 'org_a', 'support');
    const refusals = [];
    for (const binding of adminBindings) {
      refusals.push(await expectRefused(sueInSupport.rbac.bindings.revoke.mutate({ bindingId: binding.id, reason }), 403, 'ERR_RBAC_SCOPE_REFUSED'));
    }
    for (const subject of ['alice', 'amy']) {
      refusals.push(await expectRefused(sueInSupport.rbac.bindings.grant.mutate({ subject, roleId: admin.id, effect: 'deny', reason }), 403, 'ERR_RBAC_SCOPE_REFUSED'));
    }
    expect(refusals[0]!.message).toBe('You cannot change the policy outside the scope you manage');
    // From an org-wide token she holds nothing: the pipeline refuses before the store is asked.
    const sueOrgWide = await as('sue', 'org_a');
    const denied = [
      await expectRefused(sueOrgWide.rbac.bindings.revoke.mutate({ bindingId: adminBindings[0]!.id, reason }), 403, 'ERR_AUTHZ_DENIED'),
      await expectRefused(sueOrgWide.rbac.bindings.grant.mutate({ subject: 'alice', roleId: admin.id, effect: 'deny', reason }), 403, 'ERR_AUTHZ_DENIED'),
    ];
    // In her own workspace a deny takes away what she does not hold: an escalation.
    const escalation = await expectRefused(
      sueInSupport.rbac.bindings.grant.mutate({ subject: 'alice', roleId: admin.id, effect: 'deny', inWorkspace: 'support', reason }),
      403,
      'ERR_RBAC_ESCALATION_REFUSED',
    );

    // Nothing changed: the admins still administer the whole org.
    expect(await rolesAndBindings('org_a')).toEqual(before);
    for (const subject of ['alice', 'amy']) {
      const them = await as(subject, 'org_a');
      await expect(them.rbac.bindings.list.query({})).resolves.toBeDefined();
    }
    await expect(alice.rbac.bindings.grant.mutate({ subject: 'sue', roleId: lead.id, inWorkspace: 'billing', reason: 'alice still manages' })).resolves.toBeDefined();

    // Every refusal is listed (applied and refused, as the contract says), though each call rolled back.
    await service.ledger.flush();
    const { changes } = await alice.rbac.changes.list.query({ limit: 200 });
    // Newest first: alice's last grant on top, then the escalation and the four scope refusals.
    const refused = changes.slice(1, 1 + refusals.length + 1).reverse();
    expect((await service.rbac.changes('org_a', { limit: 1000 })).length).toBe(changesBefore + refusals.length + 1 + 1);
    expect(refused.map((c) => [c.actor, c.action, c.outcome, c.requestId])).toEqual(
      [...refusals, escalation].map((r, i) => ['user:sue', i < 2 ? 'bindings.revoke' : 'bindings.grant', 'refused', r.requestId]),
    );
    expect(refused[0]).toMatchObject({ reason, after: { attempted: { bindingId: adminBindings[0]!.id }, code: 'ERR_RBAC_SCOPE_REFUSED', missing: ['rbac.bindings.manage'] } });
    expect(refused.at(-1)).toMatchObject({ after: { missing: expect.arrayContaining(['rbac.roles.manage']) } });

    // And on the ledger: the intent, the call's failed outcome with the refusal's code, the denial.
    for (const error of [...refusals, escalation]) {
      const entries = await entriesOf(error.requestId!);
      expect(entries.map((e) => [e.kind, e.outcome])).toEqual([
        ['intent', null],
        ['outcome', 'failed'],
        ['denial', null],
      ]);
      expect(entries[1]).toMatchObject({ data: { code: error.code } });
      expect(entries[2]).toMatchObject({ actor: { subject: 'user:sue' }, data: { change: 'refused' } });
    }
    for (const error of denied) {
      expect((await entriesOf(error.requestId!)).map((e) => [e.kind, e.action])).toEqual([['denial', error === denied[0] ? 'rbac.bindings.revoke' : 'rbac.bindings.grant']]);
    }
  });

  it("a workspace manager who holds a role in its workspace still cannot deny it to an org admin there: the admin manages more than it (found from outside after the first fix)", async () => {
    const alice = await as('alice', 'org_a');
    const agentCaps = ['tickets.read', 'tickets.write'];
    const agent = await alice.rbac.roles.create.mutate({ name: 'desk-agent', capabilities: agentCaps, reason: 'agents of a desk' });
    const manager = await alice.rbac.roles.create.mutate({
      name: 'desk-manager',
      capabilities: ['rbac.bindings.manage', 'rbac.bindings.read', ...agentCaps],
      reason: 'managers of one desk',
    });
    await alice.rbac.bindings.grant.mutate({ subject: 'stan', roleId: manager.id, inWorkspace: 'desk', reason: 'stan manages the desk' });
    await alice.rbac.bindings.grant.mutate({ subject: 'dora', roleId: agent.id, inWorkspace: 'desk', reason: 'dora works the desk' });
    const stan = await as('stan', 'org_a', 'desk');
    const reason = 'the desk is mine';

    // He holds desk-agent's capabilities in the desk and manages its bindings: the deny of an agent is his.
    const dorasDeny = await stan.rbac.bindings.grant.mutate({ subject: 'dora', roleId: agent.id, effect: 'deny', inWorkspace: 'desk', reason: 'dora is on leave' });
    // The same deny on alice (an org admin): it would block every org-wide grant of those capabilities
    // by her (a hole in what she holds) and she could not lift it (she would lack them there). Refused.
    const before = await rolesAndBindings('org_a');
    const refused = await expectRefused(
      stan.rbac.bindings.grant.mutate({ subject: 'alice', roleId: agent.id, effect: 'deny', inWorkspace: 'desk', reason }),
      403,
      'ERR_RBAC_SCOPE_REFUSED',
    );
    expect(await rolesAndBindings('org_a')).toEqual(before);
    // alice still delegates those capabilities org-wide and lifts the deny stan placed on dora.
    await expect(alice.rbac.bindings.grant.mutate({ subject: 'carl', roleId: agent.id, reason: 'an org-wide agent' })).resolves.toBeDefined();
    await expect(alice.rbac.bindings.revoke.mutate({ bindingId: dorasDeny.id, reason: 'dora is back' })).resolves.toBeDefined();
    await service.ledger.flush();
    const { changes } = await alice.rbac.changes.list.query({ limit: 200 });
    expect(changes.find((c) => c.requestId === refused.requestId)).toMatchObject({ outcome: 'refused', actor: 'user:stan', after: { code: 'ERR_RBAC_SCOPE_REFUSED' } });
  });

  it("a token naming a workspace acts in that workspace only, whatever its holder holds: the handlers pass the session's workspace", async () => {
    const alice = await as('alice', 'org_a');
    const role = await alice.rbac.roles.create.mutate({ name: 'support-readers', capabilities: ['tickets.read'], reason: 'session scope test' });
    const orgWide = await alice.rbac.bindings.grant.mutate({ subject: 'rita', roleId: role.id, reason: 'rita reads everywhere' });
    const before = await rolesAndBindings('org_a');
    const aliceInSupport = await as('alice', 'org_a', 'support');
    const reason = 'through a support token';
    await expectRefused(aliceInSupport.rbac.bindings.revoke.mutate({ bindingId: orgWide.id, reason }), 403, 'ERR_RBAC_SCOPE_REFUSED');
    await expectRefused(aliceInSupport.rbac.bindings.grant.mutate({ subject: 'rita', roleId: role.id, inWorkspace: 'billing', reason }), 403, 'ERR_RBAC_SCOPE_REFUSED');
    await expectRefused(aliceInSupport.rbac.roles.update.mutate({ roleId: role.id, description: 'edited', reason }), 403, 'ERR_RBAC_SCOPE_REFUSED');
    await expectRefused(aliceInSupport.rbac.roles.create.mutate({ name: 'from-support', capabilities: [], reason }), 403, 'ERR_RBAC_SCOPE_REFUSED');
    expect(await rolesAndBindings('org_a')).toEqual(before);
    // The legal neighbour: in support itself.
    await expect(aliceInSupport.rbac.bindings.grant.mutate({ subject: 'rita', roleId: role.id, inWorkspace: 'support', reason })).resolves.toMatchObject({
      workspace: 'support',
      createdBy: 'user:alice',
    });
  });

  it('no change leaves an org without a principal able to manage bindings: 409 ORG_UNMANAGEABLE, declared, recorded as refused', async () => {
    await service.ledger.transact((tx) => service.rbac.bind(tx.db).bootstrapTenant('test-operator', 'org_c', 'cleo', 'first admin of org_c (test)'));
    const cleo = await as('cleo', 'org_c');
    const admin = (await cleo.rbac.roles.list.query({})).roles[0]!;
    const [own] = (await cleo.rbac.bindings.list.query({ subject: 'cleo' })).bindings;
    const before = await rolesAndBindings('org_c');
    const reason = 'the last admin leaves';
    const attempts = [
      await expectRefused(cleo.rbac.bindings.revoke.mutate({ bindingId: own!.id, reason }), 409, 'ORG_UNMANAGEABLE'),
      await expectRefused(cleo.rbac.bindings.grant.mutate({ subject: 'cleo', roleId: admin.id, effect: 'deny', reason }), 409, 'ORG_UNMANAGEABLE'),
      await expectRefused(cleo.rbac.bindings.grant.mutate({ subject: 'cleo', roleId: admin.id, effect: 'deny', inWorkspace: 'support', reason }), 409, 'ORG_UNMANAGEABLE'),
      await expectRefused(
        cleo.rbac.roles.update.mutate({ roleId: admin.id, capabilities: admin.capabilities.filter((c) => c !== 'rbac.bindings.manage'), reason }),
        409,
        'ORG_UNMANAGEABLE',
      ),
      await expectRefused(cleo.rbac.roles.delete.mutate({ roleId: admin.id, reason }), 409, 'ORG_UNMANAGEABLE'),
    ];
    expect(attempts[0]!.message).toBe('The change would leave your organisation with nobody able to manage its bindings');
    expect(await rolesAndBindings('org_c')).toEqual(before);
    await service.ledger.flush();
    const { changes } = await cleo.rbac.changes.list.query({ limit: 5 });
    expect(changes.map((c) => [c.outcome, (c.after as { code: string }).code, c.requestId])).toEqual(
      attempts.reverse().map((a) => ['refused', 'ORG_UNMANAGEABLE', a.requestId]),
    );
    // The legal neighbour: with a second admin, cleo may go.
    await cleo.rbac.bindings.grant.mutate({ subject: 'cid', roleId: admin.id, reason: 'a successor' });
    await expect(cleo.rbac.bindings.revoke.mutate({ bindingId: own!.id, reason: 'cleo hands over' })).resolves.toEqual({ id: own!.id, revoked: true });
  });

  it('no subject or role description reaches the ledger through a grant, a revoke or a role edit: only redactions and digests', async () => {
    const alice = await as('alice', 'org_a');
    await service.ledger.flush();
    const from = await service.ledger.size();
    const secretSubject = 'quentin-grantee-4711';
    const description = 'Escalations for Dr. Mirela Vasquez';
    const edited = 'Night cover, call Tobias Lindqvist';
    const role = await alice.rbac.roles.create.mutate({ name: 'escalations', description, capabilities: ['tickets.read'], reason: 'a described role' });
    await alice.rbac.roles.update.mutate({ roleId: role.id, description: edited, reason: 'a new description' });
    const granted = await alice.rbac.bindings.grant.mutate({ subject: secretSubject, roleId: role.id, inWorkspace: 'support', reason: 'a grant' });
    await alice.rbac.bindings.grant.mutate({ subject: secretSubject, roleId: role.id, effect: 'deny', inWorkspace: 'billing', reason: 'a deny' });
    await alice.rbac.bindings.revoke.mutate({ bindingId: granted.id, reason: 'a revoke' });
    await service.ledger.flush();
    const rows = await db().selectFrom('ledger_entries').select('body').where('seq', '>=', from).orderBy('seq').execute();
    const entries = rows.map((row: { body: Uint8Array }) => decodeEntry(new Uint8Array(row.body)));
    expect(entries.filter((e) => e.kind === 'event').map((e) => e.action)).toEqual([
      'rbac.roles.create',
      'rbac.roles.update',
      'rbac.bindings.grant',
      'rbac.bindings.grant',
      'rbac.bindings.revoke',
    ]);
    const text = JSON.stringify(entries);
    for (const value of [secretSubject, description, edited, 'Mirela', 'Lindqvist']) expect(text).not.toContain(value);
    expect(text).toContain('[redacted:identifier]');
    expect(text).toContain('[redacted:free-text]');
    // The change log, an ordinary table, keeps them for the org's admins.
    const { changes } = await alice.rbac.changes.list.query({ limit: 5 });
    expect(JSON.stringify(changes)).toContain(secretSubject);
    expect(JSON.stringify(changes)).toContain(edited);
  });
});

describe('audit before action on the ledger', () => {
  it('when the intent cannot be written the change does not happen: 503 ERR_AUDIT_UNAVAILABLE', async () => {
    const alice = await as('alice', 'org_a');
    const before = await policyOf('org_a');
    const size = await service.ledger.size();
    await sql`create trigger test_ledger_down before insert on ledger_entries begin select raise(abort, 'disk full'); end`.execute(db());
    try {
      await expectRefused(alice.rbac.roles.create.mutate({ name: 'unaudited', capabilities: [], reason: 'must not happen' }), 503, 'ERR_AUDIT_UNAVAILABLE');
    } finally {
      await sql`drop trigger test_ledger_down`.execute(db());
    }
    expect(await policyOf('org_a')).toEqual(before);
    expect(await service.ledger.size()).toBe(size);
  });

  it('after every test above, the whole ledger verifies with the public key alone', async () => {
    await service.ledger.flush();
    const result = await verifyLedger(db(), { origin: SIGNER.name, keyName: SIGNER.name, publicKey: SIGNER.publicKey });
    expect(result).toMatchObject({ ok: true });
    expect(result.ok && result.size).toBeGreaterThan(20);
  });
});
