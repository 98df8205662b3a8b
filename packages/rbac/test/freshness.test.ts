import { performance } from 'node:perf_hooks';
import { afterEach, describe, expect, it } from 'vitest';
import { createDatabase } from '@covenant/db';
import type { AuthorizationDecision } from '@covenant/core';
import type { Role, RbacStore, RbacTables } from '../src/index.ts';
import { T0, allowed, check, manualClock, openStore, tempDatabaseFile, user, type Fixture, type ManualClock } from './support/rbac-fixture.ts';

// Zanzibar's "new enemy" rule: a change applies to every check that starts after it commits, in this
// process (whose cache holds decisions from before) and in any other process on the same database (whose
// cache this process cannot clear). A check that started before the commit may still see the old policy.

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface Sample {
  readonly startedAt: number;
  readonly allowed: boolean;
}

/**
 * Runs `workers` loops of checks; once `warmup` checks are done one worker starts `change` without waiting
 * for it, and every loop carries on until `after` checks have started after `change` resolved. Returns each
 * check's start time and the time the change resolved (`performance.now()`, one monotonic clock).
 */
async function race(options: {
  readonly checks: ReadonlyArray<() => Promise<AuthorizationDecision>>;
  readonly change: () => Promise<unknown>;
  readonly workers?: number;
  readonly warmup?: number;
  readonly after?: number;
}): Promise<{ samples: Sample[]; committedAt: number }> {
  const { checks, change, workers = 16, warmup = 64, after = 64 } = options;
  const samples: Sample[] = [];
  let committedAt = Number.POSITIVE_INFINITY;
  let changing: Promise<unknown> | null = null;
  let startedAfter = 0;
  const loop = async (worker: number): Promise<void> => {
    for (let i = 0; startedAfter < after; i += 1) {
      if (changing === null && samples.length >= warmup) {
        changing = change().then(() => {
          committedAt = performance.now();
        });
      }
      const startedAt = performance.now();
      if (startedAt > committedAt) startedAfter += 1;
      const decision = await checks[(worker + i) % checks.length]!();
      samples.push({ startedAt, allowed: decision.allowed });
    }
  };
  await Promise.all(Array.from({ length: workers }, (_, w) => loop(w)));
  await changing;
  return { samples, committedAt };
}

function expectFresh({ samples, committedAt }: { samples: Sample[]; committedAt: number }): void {
  const before = samples.filter((s) => s.startedAt < committedAt);
  const after = samples.filter((s) => s.startedAt > committedAt);
  // The race is real: checks ran (and were allowed) before the change, and many started after it.
  expect(before.some((s) => s.allowed)).toBe(true);
  expect(after.length).toBeGreaterThanOrEqual(64);
  expect(after.filter((s) => s.allowed)).toEqual([]);
}

interface World {
  readonly a: Fixture;
  /** The store every racing check goes through: `a` itself, or a second store on the same file. */
  readonly checker: RbacStore;
  readonly reader: Role;
  readonly bindingId: string;
}

const ALICE = user('alice');

/** alice bootstraps org_a; bob reads tickets through `reader`; the checker's cache is warm with bob's allow. */
async function world(kind: 'same store' | 'second store', clock: ManualClock = manualClock()): Promise<World> {
  let a: Fixture;
  let checker: RbacStore;
  if (kind === 'same store') {
    a = await openStore({ clock });
    checker = a.rbac;
  } else {
    const file = tempDatabaseFile();
    cleanups.push(() => file.remove());
    a = await openStore({ db: createDatabase<RbacTables>({ url: file.url }), clock });
    // Another server process: its own connection, its own store, its own cache.
    const other = await openStore({ db: createDatabase<RbacTables>({ url: file.url }), clock });
    cleanups.push(() => other.db.destroy());
    checker = other.rbac;
  }
  cleanups.push(() => a.db.destroy());
  await a.rbac.bootstrapTenant('ops', 'org_a', 'alice', 'first admin of org_a');
  const reader = await a.rbac.createRole(ALICE, 'org_a', { name: 'reader', capabilities: ['tickets.read'] }, 'readers');
  const binding = await a.rbac.grant(ALICE, 'org_a', { subject: 'bob', roleId: reader.id, expiresAt: new Date(T0 + 60_000) }, 'bob reads');
  expect(await allowed(checker, 'bob', 'org_a', 'tickets.read')).toBe(true);
  return { a, checker, reader, bindingId: binding.id };
}

const bobChecks = (rbac: RbacStore) => [
  () => check(rbac, 'bob', 'org_a', 'tickets.read'),
  () => check(rbac, 'bob', 'org_a', 'tickets.read', { type: 'ticket', id: 't1' }),
  () => check(rbac, 'bob', 'org_a', 'tickets.read', { type: 'ticket', id: null }, 'w1'),
];

describe('the decision cache is in use (otherwise the freshness tests below prove nothing)', () => {
  it('answers a repeated check with one epoch read, and reloads the grants after a change', async () => {
    const { a } = await world('same store');
    a.queries.count = 0;
    expect(await allowed(a.rbac, 'bob', 'org_a', 'tickets.read')).toBe(true);
    expect(a.queries.count).toBe(1); // the epoch, nothing else
    await a.rbac.grant(ALICE, 'org_a', { subject: 'carol', roleId: (await a.rbac.listRoles('org_a'))[0]!.id }, 'an unrelated change');
    a.queries.count = 0;
    expect(await allowed(a.rbac, 'bob', 'org_a', 'tickets.read')).toBe(true);
    expect(a.queries.count).toBeGreaterThan(1); // the epoch moved: the grants were read again
  });
});

describe.each(['same store', 'second store'] as const)('freshness through the %s', (kind) => {
  it('no check that starts after a revoke commits is allowed (checks racing the revoke)', async () => {
    const w = await world(kind);
    expectFresh(await race({ checks: bobChecks(w.checker), change: () => w.a.rbac.revoke(ALICE, 'org_a', w.bindingId, 'bob left') }));
  });

  it('no check that starts after a role edit removing the capability commits is allowed', async () => {
    const w = await world(kind);
    const edit = () => w.a.rbac.updateRole(ALICE, 'org_a', w.reader.id, { capabilities: ['projects.read'] }, 'readers no longer read tickets');
    expectFresh(await race({ checks: bobChecks(w.checker), change: edit }));
  });

  it('no check that starts after the role is deleted is allowed', async () => {
    const w = await world(kind);
    expectFresh(await race({ checks: bobChecks(w.checker), change: () => w.a.rbac.deleteRole(ALICE, 'org_a', w.reader.id, 'no more readers') }));
  });

  it('no check that starts after a deny binding commits is allowed', async () => {
    const w = await world(kind);
    const deny = () => w.a.rbac.grant(ALICE, 'org_a', { subject: 'bob', roleId: w.reader.id, effect: 'deny' }, 'bob is suspended');
    expectFresh(await race({ checks: bobChecks(w.checker), change: deny }));
  });

  it('no check that starts after the binding expires is allowed (injected clock)', async () => {
    const clock = manualClock();
    const w = await world(kind, clock);
    clock.set(T0 + 59_999);
    expectFresh(await race({ checks: bobChecks(w.checker), change: async () => clock.set(T0 + 60_000) }));
  });

  it('does not serve a decision cached before a revoke after it', async () => {
    const w = await world(kind);
    for (let i = 0; i < 3; i += 1) expect(await allowed(w.checker, 'bob', 'org_a', 'tickets.read')).toBe(true);
    await w.a.rbac.revoke(ALICE, 'org_a', w.bindingId, 'bob left');
    expect(await check(w.checker, 'bob', 'org_a', 'tickets.read')).toEqual({
      kind: 'authorization',
      allowed: false,
      code: 'authz.missing_capability',
      capability: 'tickets.read',
      resource: null,
    });
  });

  it('does not serve a decision cached before a role edit after it', async () => {
    const w = await world(kind);
    expect(await allowed(w.checker, 'bob', 'org_a', 'tickets.read')).toBe(true);
    await w.a.rbac.updateRole(ALICE, 'org_a', w.reader.id, { capabilities: [] }, 'readers read nothing');
    expect(await allowed(w.checker, 'bob', 'org_a', 'tickets.read')).toBe(false);
  });

  it('does not serve a decision cached before the expiry after it, to the millisecond', async () => {
    const clock = manualClock();
    const w = await world(kind, clock);
    clock.set(T0 + 59_999);
    expect(await allowed(w.checker, 'bob', 'org_a', 'tickets.read')).toBe(true); // cached, valid one more millisecond
    clock.set(T0 + 60_000);
    expect(await allowed(w.checker, 'bob', 'org_a', 'tickets.read')).toBe(false);
  });

  it('does not serve a denial cached before a grant after it (a new grant applies at once too)', async () => {
    const w = await world(kind);
    expect(await allowed(w.checker, 'carol', 'org_a', 'tickets.read')).toBe(false);
    await w.a.rbac.grant(ALICE, 'org_a', { subject: 'carol', roleId: w.reader.id }, 'carol reads');
    expect(await allowed(w.checker, 'carol', 'org_a', 'tickets.read')).toBe(true);
  });
});

describe('the race harness', () => {
  it('catches a cache that serves decisions from before the change (so a pass above means something)', async () => {
    const w = await world('same store');
    const memo = new Map<string, Promise<AuthorizationDecision>>();
    const stale = bobChecks(w.checker).map((run, i) => () => {
      if (!memo.has(String(i))) memo.set(String(i), run());
      return memo.get(String(i))!;
    });
    const result = await race({ checks: stale, change: () => w.a.rbac.revoke(ALICE, 'org_a', w.bindingId, 'bob left') });
    expect(() => expectFresh(result)).toThrow();
  });
});

describe('freshness of the cache itself', () => {
  it('decides the same with the cache disabled (cacheSize 0), before and after a revoke', async () => {
    const a = await openStore({ cacheSize: 0 });
    cleanups.push(() => a.db.destroy());
    await a.rbac.bootstrapTenant('ops', 'org_a', 'alice', 'first admin of org_a');
    const reader = await a.rbac.createRole(ALICE, 'org_a', { name: 'reader', capabilities: ['tickets.read'] }, 'readers');
    const binding = await a.rbac.grant(ALICE, 'org_a', { subject: 'bob', roleId: reader.id }, 'bob reads');
    a.queries.count = 0;
    expect(await allowed(a.rbac, 'bob', 'org_a', 'tickets.read')).toBe(true);
    expect(await allowed(a.rbac, 'bob', 'org_a', 'tickets.read')).toBe(true);
    expect(a.queries.count).toBe(6); // nothing cached: epoch, then epoch and grants, every time
    expectFresh(await race({ checks: bobChecks(a.rbac), change: () => a.rbac.revoke(ALICE, 'org_a', binding.id, 'bob left') }));
  });

  it('stays correct when the cache is smaller than the working set (entries evicted and reloaded)', async () => {
    const a = await openStore({ cacheSize: 2 });
    cleanups.push(() => a.db.destroy());
    await a.rbac.bootstrapTenant('ops', 'org_a', 'alice', 'first admin of org_a');
    const reader = await a.rbac.createRole(ALICE, 'org_a', { name: 'reader', capabilities: ['tickets.read'] }, 'readers');
    const subjects = ['s1', 's2', 's3', 's4', 's5'];
    const bindings = new Map<string, string>();
    for (const s of subjects) bindings.set(s, (await a.rbac.grant(ALICE, 'org_a', { subject: s, roleId: reader.id }, `${s} reads`)).id);
    for (let round = 0; round < 3; round += 1) {
      for (const s of subjects) expect(await allowed(a.rbac, s, 'org_a', 'tickets.read')).toBe(true);
    }
    await a.rbac.revoke(ALICE, 'org_a', bindings.get('s3')!, 's3 left');
    for (const s of subjects) expect(await allowed(a.rbac, s, 'org_a', 'tickets.read')).toBe(s !== 's3');
  });
});
