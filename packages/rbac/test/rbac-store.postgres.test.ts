// The RBAC store on PostgreSQL. Runs when COVENANT_TEST_PG is set (see @covenant/testkit/postgres); each test
// works in a schema of its own, dropped afterwards.
import { createDatabase } from '@covenant/db';
import { postgresTestDatabase, postgresTestUrl, type PostgresTestDatabase } from '@covenant/testkit/postgres';
import type { Kysely } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { EscalationRefusedError, createRbacStore, type RbacTables } from '../src/index.ts';
import { T0, allowed, changeCount, check, epochOf, openStore, snapshot, user, type Fixture } from './support/rbac-fixture.ts';

const baseUrl = postgresTestUrl();

const open: Array<Kysely<any>> = [];
const schemas: PostgresTestDatabase[] = [];
afterEach(async () => {
  for (const db of open.splice(0)) await db.destroy();
  for (const schema of schemas.splice(0)) await schema.drop();
});

function connect(url: string): Kysely<RbacTables> {
  const db = createDatabase<RbacTables>({ url });
  open.push(db);
  return db;
}

/** A store on a migrated schema of its own, org_a bootstrapped with alice as its admin. */
async function pgStore(): Promise<Fixture & { url: string }> {
  const database = await postgresTestDatabase(baseUrl);
  schemas.push(database);
  const fixture = await openStore({ db: connect(database.url) });
  await fixture.rbac.bootstrapTenant('ops', 'org_a', 'alice', 'first admin of org_a');
  return { ...fixture, url: database.url };
}

const ALICE = user('alice', 'req-alice');
const BOB = user('bob', 'req-bob');

describe.skipIf(baseUrl === undefined)('RBAC store on PostgreSQL', () => {
  it('creates a role, grants it, and checks: allowed for the grantee, default deny for others and other capabilities', async () => {
    const f = await pgStore();
    const reader = await f.rbac.createRole(ALICE, 'org_a', { name: 'reader', capabilities: ['tickets.read', 'projects.read'] }, 'readers');
    expect(reader.capabilities).toEqual(['projects.read', 'tickets.read']);
    expect((await f.rbac.listRoles('org_a')).map((role) => role.name)).toEqual(['admin', 'reader']);
    await f.rbac.grant(ALICE, 'org_a', { subject: 'bob', roleId: reader.id }, 'bob reads');
    expect(await check(f.rbac, 'bob', 'org_a', 'tickets.read')).toMatchObject({ allowed: true, code: 'rbac.allowed' });
    expect(await check(f.rbac, 'bob', 'org_a', 'tickets.write')).toMatchObject({ allowed: false, code: 'rbac.missing_capability' });
    expect(await allowed(f.rbac, 'carol', 'org_a', 'tickets.read')).toBe(false);
    expect(await allowed(f.rbac, 'bob', 'org_b', 'tickets.read')).toBe(false);
  });

  it('a deny binding wins over an allow, and a revoke takes effect at once (the epoch moves)', async () => {
    const f = await pgStore();
    const reader = await f.rbac.createRole(ALICE, 'org_a', { name: 'reader', capabilities: ['tickets.read'] }, 'readers');
    const grant = await f.rbac.grant(ALICE, 'org_a', { subject: 'bob', roleId: reader.id }, 'bob reads');
    expect(await allowed(f.rbac, 'bob', 'org_a', 'tickets.read')).toBe(true);
    const before = await epochOf(f.db, 'org_a');
    await f.rbac.revoke(ALICE, 'org_a', grant.id, 'no longer');
    expect(await epochOf(f.db, 'org_a')).toBe(before + 1);
    expect(await allowed(f.rbac, 'bob', 'org_a', 'tickets.read')).toBe(false);
    await f.rbac.grant(ALICE, 'org_a', { subject: 'bob', roleId: reader.id }, 'again');
    await f.rbac.grant(ALICE, 'org_a', { subject: 'bob', roleId: reader.id, effect: 'deny', resource: { type: 'ticket', id: 't1' } }, 'not t1');
    expect(await check(f.rbac, 'bob', 'org_a', 'tickets.read', { type: 'ticket', id: 't1' })).toMatchObject({ allowed: false, code: 'rbac.denied_by_binding' });
    expect(await allowed(f.rbac, 'bob', 'org_a', 'tickets.read', { type: 'ticket', id: 't2' })).toBe(true);
  });

  it('an expiring binding stops at its expiry (ISO text compared in the database)', async () => {
    const f = await pgStore();
    const reader = await f.rbac.createRole(ALICE, 'org_a', { name: 'reader', capabilities: ['tickets.read'] }, 'readers');
    await f.rbac.grant(ALICE, 'org_a', { subject: 'bob', roleId: reader.id, expiresAt: new Date(T0 + 60_000) }, 'for a minute');
    expect(await allowed(f.rbac, 'bob', 'org_a', 'tickets.read')).toBe(true);
    f.clock.advance(60_000);
    expect(await allowed(f.rbac, 'bob', 'org_a', 'tickets.read')).toBe(false);
  });

  it('refuses an escalation, changes nothing but the record of the refusal', async () => {
    const f = await pgStore();
    const reader = await f.rbac.createRole(ALICE, 'org_a', { name: 'reader', capabilities: ['tickets.read'] }, 'readers');
    const writer = await f.rbac.createRole(ALICE, 'org_a', { name: 'writer', capabilities: ['tickets.read', 'tickets.write'] }, 'writers');
    const manager = await f.rbac.createRole(ALICE, 'org_a', { name: 'manager', capabilities: ['rbac.bindings.manage'] }, 'managers');
    await f.rbac.grant(ALICE, 'org_a', { subject: 'bob', roleId: reader.id }, 'bob reads');
    await f.rbac.grant(ALICE, 'org_a', { subject: 'bob', roleId: manager.id }, 'bob manages bindings');
    const before = await snapshot(f.db);
    const records = await changeCount(f.db);
    const error = await f.rbac.grant(BOB, 'org_a', { subject: 'bob', roleId: writer.id }, 'self-promotion').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EscalationRefusedError);
    expect((error as EscalationRefusedError).capabilities).toEqual(['tickets.write']);
    expect(await snapshot(f.db)).toEqual(before);
    expect(await changeCount(f.db)).toBe(records + 1);
    const [record] = await f.rbac.changes('org_a', { limit: 1 });
    expect(record).toMatchObject({ actor: 'user:bob', outcome: 'refused', requestId: 'req-bob' });
    expect(await allowed(f.rbac, 'bob', 'org_a', 'tickets.write')).toBe(false);
  });

  it('records every change in order, newest first, with identity-generated sequence numbers', async () => {
    const f = await pgStore();
    const role = await f.rbac.createRole(ALICE, 'org_a', { name: 'reader', capabilities: ['tickets.read'] }, 'readers');
    const binding = await f.rbac.grant(ALICE, 'org_a', { subject: 'bob', roleId: role.id }, 'bob reads');
    await f.rbac.revoke(ALICE, 'org_a', binding.id, 'done');
    const changes = await f.rbac.changes('org_a');
    expect(changes.map((change) => change.outcome)).toEqual(['applied', 'applied', 'applied', 'applied']);
    const seqs = changes.map((change) => change.seq);
    expect(seqs.every((seq) => typeof seq === 'number')).toBe(true);
    expect([...seqs].sort((a, b) => b - a)).toEqual(seqs);
    expect(changes[0]).toMatchObject({ actor: 'user:alice', reason: 'done', requestId: 'req-alice' });
    expect(changes[2]).toMatchObject({ reason: 'readers', before: null });
    // The record is append-only in the database too.
    await expect(f.db.deleteFrom('rbac_changes').execute()).rejects.toThrow('rbac_changes is append-only');
  });

  it('a second store on its own pool sees a revoke at once, though its decision was cached', async () => {
    const f = await pgStore();
    const reader = await f.rbac.createRole(ALICE, 'org_a', { name: 'reader', capabilities: ['tickets.read'] }, 'readers');
    const grant = await f.rbac.grant(ALICE, 'org_a', { subject: 'bob', roleId: reader.id }, 'bob reads');
    const other = createRbacStore({ db: connect(f.url), clock: f.clock.now });
    expect(await allowed(other, 'bob', 'org_a', 'tickets.read')).toBe(true);
    expect(await allowed(other, 'bob', 'org_a', 'tickets.read')).toBe(true); // cached now
    await f.rbac.revoke(ALICE, 'org_a', grant.id, 'no longer');
    expect(await allowed(other, 'bob', 'org_a', 'tickets.read')).toBe(false);
  });

  it('a store bound into a transaction changes in a savepoint: rolled back with its owner', async () => {
    const f = await pgStore();
    const failure = new Error('the audited call failed');
    await expect(
      f.db.transaction().execute(async (trx) => {
        await f.rbac.bind(trx).createRole(ALICE, 'org_a', { name: 'ghost', capabilities: ['tickets.read'] }, 'never');
        expect((await f.rbac.bind(trx).listRoles('org_a')).map((role) => role.name)).toContain('ghost');
        throw failure;
      }),
    ).rejects.toBe(failure);
    expect((await f.rbac.listRoles('org_a')).map((role) => role.name)).toEqual(['admin']);
  });
});
