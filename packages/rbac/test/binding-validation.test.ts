import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RbacChangeError, type Role } from '../src/index.ts';
import { T0, allowed, changeCount, openStore, user, type Fixture } from './support/rbac-fixture.ts';

const ALICE = user('alice');
let f: Fixture;
let reader: Role;

beforeEach(async () => {
  f = await openStore();
  await f.rbac.bootstrapTenant('ops', 'org_a', 'alice', 'first admin of org_a');
  reader = await f.rbac.createRole(ALICE, 'org_a', { name: 'reader', capabilities: ['tickets.read'] }, 'readers');
});
afterEach(() => f.db.destroy());

describe('a binding is refused when it is malformed, and nothing is written', () => {
  const cases: Array<[string, Record<string, unknown>]> = [
    ['an empty subject', { subject: '' }],
    ['a subject with a newline (log forging)', { subject: 'bob\nadmin' }],
    ['an unknown effect', { effect: 'maybe' }],
    ['a workspace that is not an identifier', { workspace: '../w1' }],
    ['a resource type with upper case', { resource: { type: 'Ticket', id: 't1' } }],
    ['a resource id with a wildcard inside', { resource: { type: 'ticket', id: 't*' } }],
    ['an invalid date', { expiresAt: new Date('nope') }],
    // ISO text of years past 9999 starts with "+", which sorts before "2026-…": stored, it would read as expired.
    ['an expiry in the year 10000', { expiresAt: new Date(Date.UTC(10000, 0, 1)) }],
  ];
  for (const [name, overrides] of cases) {
    it(`refuses ${name} (INVALID_BINDING)`, async () => {
      const records = await changeCount(f.db);
      const error = await f.rbac
        .grant(ALICE, 'org_a', { subject: 'bob', roleId: reader.id, ...overrides } as never, 'a reason')
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(RbacChangeError);
      expect(error).toMatchObject({ code: 'INVALID_BINDING' });
      expect(await changeCount(f.db)).toBe(records);
    });
  }

  it('accepts the legal neighbours: a resource wildcard, a workspace, and the last millisecond of 9999', async () => {
    await f.rbac.grant(ALICE, 'org_a', { subject: 'bob', roleId: reader.id, resource: { type: 'ticket', id: '*' } }, 'all tickets');
    await f.rbac.grant(ALICE, 'org_a', { subject: 'bob', roleId: reader.id, workspace: 'w1' }, 'in w1');
    const deny = await f.rbac.grant(
      ALICE,
      'org_a',
      { subject: 'carol', roleId: reader.id, effect: 'deny', expiresAt: new Date(Date.UTC(10000, 0, 1) - 1) },
      'carol suspended for a long time',
    );
    expect(deny.expiresAt).toBe('9999-12-31T23:59:59.999Z');
    await f.rbac.grant(ALICE, 'org_a', { subject: 'carol', roleId: reader.id }, 'carol reads');
    expect(await allowed(f.rbac, 'carol', 'org_a', 'tickets.read')).toBe(false);
    expect(T0).toBeLessThan(Date.UTC(10000, 0, 1));
  });
});
