import { procedureContextFor } from '@covenant/testkit';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDatabase, migrateToLatest } from '@covenant/db';
import type { Principal } from '@covenant/identity';
import type { AuthorizationDecision, ResourceSelector } from '@covenant/core';
import type { Kysely, KyselyPlugin, PluginTransformQueryArgs, PluginTransformResultArgs, QueryResult, RootOperationNode, UnknownRow } from 'kysely';
import { expect } from 'vitest';
import { createRbacStore, type ChangeRecord, type RbacActor, type RbacStore, type RbacTables } from '../../src/index.ts';

/** The catalogue most tests register: what a small ticketing contract would declare, plus the rbac admin ones. */
export const CATALOGUE: ReadonlyArray<string> = [
  'projects.read',
  'rbac.bindings.manage',
  'rbac.roles.manage',
  'tickets.delete',
  'tickets.read',
  'tickets.write',
];

/** 2026-01-01T00:00:00Z: every test starts at the same instant, so expiry is arithmetic, never a sleep. */
export const T0 = Date.parse('2026-01-01T00:00:00.000Z');

/** A clock the test moves by hand (STYLE.md §9: time is injected). */
export interface ManualClock {
  readonly now: () => Date;
  set(ms: number): void;
  advance(ms: number): void;
}

export function manualClock(start: number = T0): ManualClock {
  let current = start;
  return {
    now: () => new Date(current),
    set: (ms) => {
      current = ms;
    },
    advance: (ms) => {
      current += ms;
    },
  };
}

/**
 * Counts the statements a store executes, to prove when the decision cache answers and when it reloads.
 * Counted as their results come back (`transformResult`), not as they are compiled (`transformQuery`): the
 * store compiles its check statements once and executes them many times, and each execution is a query.
 */
export class QueryCounter implements KyselyPlugin {
  count = 0;
  /** How many statements were compiled (built) through the handle. */
  compiled = 0;

  transformQuery(args: PluginTransformQueryArgs): RootOperationNode {
    this.compiled += 1;
    return args.node;
  }

  async transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    this.count += 1;
    return args.result;
  }
}

export interface StoreOptions {
  readonly db?: Kysely<RbacTables>;
  readonly clock?: ManualClock;
  readonly cacheSize?: number;
  readonly ids?: () => string;
  readonly capabilities?: ReadonlyArray<string>;
}

export interface Fixture {
  readonly db: Kysely<RbacTables>;
  readonly rbac: RbacStore;
  readonly clock: ManualClock;
  readonly queries: QueryCounter;
}

/** A migrated database (`:memory:` unless `db` is given) and a store on it with the catalogue registered. */
export async function openStore(options: StoreOptions = {}): Promise<Fixture> {
  const db = options.db ?? createDatabase<RbacTables>({ url: ':memory:' });
  await migrateToLatest(db);
  const clock = options.clock ?? manualClock();
  const queries = new QueryCounter();
  const rbac = createRbacStore({
    db: db.withPlugin(queries),
    clock,
    ...(options.cacheSize === undefined ? {} : { cacheSize: options.cacheSize }),
    ...(options.ids === undefined ? {} : { ids: options.ids }),
  });
  await rbac.registerCapabilities(options.capabilities ?? CATALOGUE, 'contract');
  return { db, rbac, clock, queries };
}

/** A temp directory for a database file that two connections share; `remove` deletes it with its WAL files. */
export function tempDatabaseFile(): { readonly url: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'covenant-rbac-'));
  return { url: join(dir, 'rbac.db'), remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Deterministic ids (`000001`, `000002`, …): ids sort in creation order, so `matched` is predictable. */
export function counterIds(prefix = ''): () => string {
  let n = 0;
  return () => `${prefix}${String(++n).padStart(6, '0')}`;
}

/** A principal as the verifier would produce it; `check` only reads subject and tenant. */
export function principal(subject: string, org: string, workspace: string | null = null): Principal {
  return { subject, tenant: { org, workspace }, session: null, tokenId: null, issuer: 'https://issuer.test', issuedAt: 0, expiresAt: 0 };
}

/** The actor an admin handler passes for a verified user (`workspace`: the one its session is bound to). */
export function user(subject: string, requestId: string | null = null, workspace: string | null = null): RbacActor {
  return { id: `user:${subject}`, subject, workspace, requestId };
}

export function check(
  rbac: RbacStore,
  subject: string,
  org: string,
  capability: string,
  resource: ResourceSelector | null = null,
  workspace: string | null = null,
): Promise<AuthorizationDecision> {
  return rbac.check({ principal: principal(subject, org, workspace), capability, resource, procedure: procedureContextFor(capability) });
}

export async function allowed(
  rbac: RbacStore,
  subject: string,
  org: string,
  capability: string,
  resource: ResourceSelector | null = null,
  workspace: string | null = null,
): Promise<boolean> {
  return (await check(rbac, subject, org, capability, resource, workspace)).allowed;
}

/** The org's policy epoch as stored (0 before the first change). */
export async function epochOf(db: Kysely<RbacTables>, org: string): Promise<number> {
  const row = await db.selectFrom('rbac_epochs').select('epoch').where('org', '=', org).executeTakeFirst();
  return row?.epoch ?? 0;
}

/** Everything a refused or failed change must leave as it was. */
export async function snapshot(db: Kysely<RbacTables>): Promise<unknown> {
  return {
    roles: await db.selectFrom('rbac_roles').selectAll().orderBy('id').execute(),
    capabilities: await db.selectFrom('rbac_role_capabilities').selectAll().orderBy('role_id').orderBy('capability').execute(),
    bindings: await db.selectFrom('rbac_bindings').selectAll().orderBy('id').execute(),
    epochs: await db.selectFrom('rbac_epochs').selectAll().orderBy('org').execute(),
  };
}

export async function changeCount(db: Kysely<RbacTables>): Promise<number> {
  const row = await db.selectFrom('rbac_changes').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
  return Number(row.n);
}

/**
 * Runs `attempt`, which must be refused: asserts it changed nothing (not even the epoch) but one new change
 * record of org_a, and returns the error and that record, for the caller's assertions on both.
 */
export async function refusedChange(f: Fixture, attempt: () => Promise<unknown>): Promise<{ error: unknown; record: ChangeRecord }> {
  const before = await snapshot(f.db);
  const records = await changeCount(f.db);
  const error = await attempt().then(
    () => null,
    (e: unknown) => e,
  );
  expect(error, 'the change was refused').not.toBeNull();
  expect(await snapshot(f.db)).toEqual(before);
  expect(await changeCount(f.db)).toBe(records + 1);
  const [record] = await f.rbac.changes('org_a', { limit: 1 });
  return { error, record: record! };
}
