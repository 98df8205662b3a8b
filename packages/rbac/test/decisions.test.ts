import { procedureContextFor } from '@covenant/testkit';
import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RbacChangeError, type Binding, type Role } from '../src/index.ts';
import { CATALOGUE, changeCount, check, openStore, principal, snapshot, user, type Fixture } from './support/rbac-fixture.ts';

// Decisions are records (STYLE.md §6): the exact object the pipeline logs and the ledger keeps.

const ALICE = user('alice');
let f: Fixture;
let writer: Role;
let bobWrites: Binding;

beforeEach(async () => {
  f = await openStore();
  await f.rbac.bootstrapTenant('ops', 'org_a', 'alice', 'first admin of org_a');
  writer = await f.rbac.createRole(ALICE, 'org_a', { name: 'writer', capabilities: ['tickets.read', 'tickets.write'] }, 'writers');
  bobWrites = await f.rbac.grant(ALICE, 'org_a', { subject: 'bob', roleId: writer.id }, 'bob writes');
});
afterEach(() => f.db.destroy());

describe('the decision record', () => {
  it('authz.allowed: { allowed, code, capability, resource, matched } with the binding that granted it', async () => {
    const resource = { type: 'ticket', id: 't1' };
    expect(await check(f.rbac, 'bob', 'org_a', 'tickets.write', resource)).toStrictEqual({
      kind: 'authorization',
      allowed: true,
      code: 'authz.allowed',
      capability: 'tickets.write',
      resource: { type: 'ticket', id: 't1' },
      matched: bobWrites.id,
    });
  });

  it('authz.denied_by_binding: no matched field, whatever allow also applies', async () => {
    await f.rbac.grant(ALICE, 'org_a', { subject: 'bob', roleId: writer.id, effect: 'deny', resource: { type: 'ticket', id: 't1' } }, 'not t1');
    expect(await check(f.rbac, 'bob', 'org_a', 'tickets.write', { type: 'ticket', id: 't1' })).toStrictEqual({
      kind: 'authorization',
      allowed: false,
      code: 'authz.denied_by_binding',
      capability: 'tickets.write',
      resource: { type: 'ticket', id: 't1' },
    });
    // The legal neighbour: another ticket is still allowed.
    expect((await check(f.rbac, 'bob', 'org_a', 'tickets.write', { type: 'ticket', id: 't2' })).allowed).toBe(true);
  });

  it('authz.missing_capability: default deny for a known capability nobody granted', async () => {
    expect(await check(f.rbac, 'bob', 'org_a', 'tickets.delete')).toStrictEqual({
      kind: 'authorization',
      allowed: false,
      code: 'authz.missing_capability',
      capability: 'tickets.delete',
      resource: null,
    });
    expect(await check(f.rbac, 'nobody', 'org_a', 'tickets.read')).toStrictEqual({
      kind: 'authorization',
      allowed: false,
      code: 'authz.missing_capability',
      capability: 'tickets.read',
      resource: null,
    });
  });

  it('authz.unknown_capability: a valid name outside the catalogue', async () => {
    expect(await check(f.rbac, 'alice', 'org_a', 'tickets.archive')).toStrictEqual({
      kind: 'authorization',
      allowed: false,
      code: 'authz.unknown_capability',
      capability: 'tickets.archive',
      resource: null,
    });
  });

  it('authz.invalid_capability: a name that is not a capability, reported as text', async () => {
    expect(await check(f.rbac, 'alice', 'org_a', 'tickets.*', { type: 'ticket', id: null })).toStrictEqual({
      kind: 'authorization',
      allowed: false,
      code: 'authz.invalid_capability',
      capability: 'tickets.*',
      resource: { type: 'ticket', id: null },
    });
    const notAString = await f.rbac.check({ principal: principal('alice', 'org_a'), capability: 42 as unknown as string, resource: null, procedure: procedureContextFor('tickets.read') });
    expect(notAString).toStrictEqual({ kind: 'authorization', allowed: false, code: 'authz.invalid_capability', capability: '42', resource: null });
  });
});

describe('capability names are exact', () => {
  // The admin holds every catalogue capability, so any of these being allowed would be a name confusion.
  const invalid: Array<[string, string]> = [
    ['upper-case first segment', 'Tickets.read'],
    ['upper-case second segment', 'tickets.Read'],
    ['trailing space', 'tickets.read '],
    ['leading space', ' tickets.read'],
    ['wildcard segment', 'tickets.*'],
    ['bare wildcard', '*'],
    ['double wildcard', '**'],
    ['one segment', 'tickets'],
    ['empty', ''],
    ['empty segment', 'tickets..read'],
    ['trailing dot', 'tickets.read.'],
    ['NFD e-acute look-alike', 'tickets.re\u0301ad'],
    ['NFC e-acute look-alike', 'tickets.r\u00e9ad'],
    ['Cyrillic e look-alike', 'tickets.r\u0435ad'],
    ['full-width letters', '\uff54ickets.read'],
    ['zero-width space', 'tickets.\u200bread'],
    ['NUL byte', 'tickets.read\u0000'],
    ['newline', 'tickets.read\n'],
    ['too long', `tickets.${'a'.repeat(200)}`],
  ];

  it.each(invalid)('%s (%j) is invalid and denied', async (_, name) => {
    expect(await check(f.rbac, 'alice', 'org_a', name)).toMatchObject({ kind: 'authorization', allowed: false, code: 'authz.invalid_capability' });
  });

  it.each([
    ['different case inside a segment', 'tickets.reaD'],
    ['a prefix of a granted one', 'tickets.rea'],
    ['an extension of a granted one', 'tickets.read.all'],
    ['a plural', 'ticket.read'],
  ])('%s (%j) is unknown and denied', async (_, name) => {
    expect(await check(f.rbac, 'alice', 'org_a', name)).toMatchObject({ kind: 'authorization', allowed: false, code: 'authz.unknown_capability' });
  });

  it('the legal neighbour: the exact name, already NFC, is allowed', async () => {
    expect('tickets.read'.normalize('NFC')).toBe('tickets.read');
    expect(await check(f.rbac, 'alice', 'org_a', 'tickets.read')).toMatchObject({ kind: 'authorization', allowed: true, code: 'authz.allowed' });
  });

  it('an unknown capability is denied even when a role somehow holds it (written past the catalogue)', async () => {
    // The foreign key to the catalogue forbids this row; switch it off to simulate a tampered or stale table.
    await sql`pragma foreign_keys = OFF`.execute(f.db);
    await f.db.insertInto('rbac_role_capabilities').values({ role_id: writer.id, capability: 'tickets.archive' }).execute();
    await f.db.insertInto('rbac_role_capabilities').values({ role_id: writer.id, capability: 'tickets.*' }).execute();
    await sql`pragma foreign_keys = ON`.execute(f.db);
    expect((await f.rbac.listRoles('org_a')).find((r) => r.id === writer.id)!.capabilities).toContain('tickets.archive');
    // bob has not been checked yet in this test: nothing is cached, his grants are read with the rows above.
    expect((await check(f.rbac, 'bob', 'org_a', 'tickets.archive')).code).toBe('authz.unknown_capability');
    // A wildcard held by a role is not a wildcard: it grants neither itself nor what it looks like it covers.
    expect((await check(f.rbac, 'bob', 'org_a', 'tickets.*')).code).toBe('authz.invalid_capability');
    expect((await check(f.rbac, 'bob', 'org_a', 'tickets.delete')).code).toBe('authz.missing_capability');
  });

  it('roles cannot be given invalid or unknown capabilities (UNKNOWN_CAPABILITY, nothing created)', async () => {
    const before = await snapshot(f.db);
    const records = await changeCount(f.db);
    for (const name of ['tickets.*', 'Tickets.read', 'tickets.read ', 'tickets.archive', 'tickets.r\u00e9ad']) {
      const attempt = f.rbac.createRole(ALICE, 'org_a', { name: 'odd', capabilities: ['tickets.read', name] }, 'odd role');
      await expect(attempt).rejects.toBeInstanceOf(RbacChangeError);
      await expect(f.rbac.updateRole(ALICE, 'org_a', writer.id, { capabilities: [name] }, 'odd edit')).rejects.toMatchObject({ code: 'UNKNOWN_CAPABILITY' });
    }
    expect(await snapshot(f.db)).toEqual(before);
    expect(await changeCount(f.db)).toBe(records);
  });
});

describe('the catalogue', () => {
  it('registerCapabilities refuses invalid names with a TypeError and registers none of the batch', async () => {
    for (const name of ['Tickets.read', 'tickets.*', 'tickets', 'tickets.read ', 'tickets.r\u00e9ad', '']) {
      await expect(f.rbac.registerCapabilities(['reports.read', name], 'registered')).rejects.toThrow(TypeError);
    }
    await expect(f.rbac.registerCapabilities([42 as unknown as string], 'registered')).rejects.toThrow(TypeError);
    expect(await f.rbac.capabilities()).toEqual([...CATALOGUE].sort());
  });

  it('registers valid names idempotently, and a registered capability becomes checkable', async () => {
    await f.rbac.registerCapabilities(['reports.read', 'reports.read'], 'registered');
    await f.rbac.registerCapabilities(['reports.read', 'tickets.read'], 'contract');
    expect(await f.rbac.capabilities()).toEqual([...CATALOGUE, 'reports.read'].sort());
    expect((await check(f.rbac, 'alice', 'org_a', 'reports.read')).code).toBe('authz.missing_capability'); // known, not granted
    const reporter = await f.rbac.createRole(ALICE, 'org_a', { name: 'reporter', capabilities: ['reports.read'] }, 'reports').catch((e: unknown) => e);
    // alice was bootstrapped before reports.read existed: she does not hold it, so she cannot hand it out.
    expect(reporter).toMatchObject({ code: 'ERR_RBAC_ESCALATION_REFUSED' });
  });
});
