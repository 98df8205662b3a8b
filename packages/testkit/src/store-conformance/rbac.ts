import { procedureContextFor } from '../static-authorization.ts';
import {
  EscalationRefusedError,
  RbacChangeError,
  ScopeRefusedError,
  createRbacStore,
  type Binding,
  type RbacActor,
  type RbacChangeEvent,
  type RbacStore,
  type RbacStoreOptions,
  type RbacTables,
  type Role,
} from '@covenant/rbac';
import type { AuthorizationDecision, ResourceSelector, Clock } from '@covenant/core';
import fc from 'fast-check';
import type { Kysely } from 'kysely';
import { describe, expect, it } from 'vitest';
import type { StoreConformanceFactory } from './factory.ts';
import { databasesPerTest } from './per-test.ts';
import { grantToService } from './service-grants.ts';

/** What a small ticketing contract would declare, plus the rbac admin capabilities. */
const CATALOGUE = ['projects.read', 'rbac.bindings.manage', 'rbac.roles.manage', 'tickets.delete', 'tickets.read', 'tickets.write'];
/** Every test starts at the same instant: expiry is clock arithmetic, never a sleep. */
const T0 = Date.parse('2026-01-01T00:00:00.000Z');

interface ManualClock {
  readonly now: () => Date;
  advance(ms: number): void;
}

function manualClock(): ManualClock {
  let current = T0;
  return {
    now: () => new Date(current),
    advance: (ms) => {
      current += ms;
    },
  };
}

/** Deterministic ids: they sort in creation order. */
function counterIds(): () => string {
  let n = 0;
  return () => String(++n).padStart(6, '0');
}

const user = (subject: string, requestId: string | null = null, workspace: string | null = null) => ({ id: `user:${subject}`, subject, workspace, requestId });
const ALICE = user('alice', 'req-alice');
const BOB = user('bob', 'req-bob');

function check(
  rbac: RbacStore,
  subject: string,
  org: string,
  capability: string,
  resource: ResourceSelector | null = null,
  workspace: string | null = null,
): Promise<AuthorizationDecision> {
  const principal = { subject, tenant: { org, workspace }, session: null, tokenId: null, issuer: 'https://issuer.test', issuedAt: 0, expiresAt: 0 };
  return rbac.check({ principal, capability, resource, procedure: procedureContextFor(capability) });
}

async function allowed(...args: Parameters<typeof check>): Promise<boolean> {
  return (await check(...args)).allowed;
}

const tables = (db: Kysely<any>): Kysely<RbacTables> => db as Kysely<RbacTables>;

async function epochOf(db: Kysely<any>, org: string): Promise<number> {
  const row = await tables(db).selectFrom('rbac_epochs').select('epoch').where('org', '=', org).executeTakeFirst();
  return row?.epoch ?? 0;
}

/** Everything a refused or rolled-back change must leave as it was. */
async function snapshot(db: Kysely<any>): Promise<unknown> {
  const t = tables(db);
  return {
    roles: await t.selectFrom('rbac_roles').selectAll().orderBy('id').execute(),
    capabilities: await t.selectFrom('rbac_role_capabilities').selectAll().orderBy('role_id').orderBy('capability').execute(),
    bindings: await t.selectFrom('rbac_bindings').selectAll().orderBy('id').execute(),
    epochs: await t.selectFrom('rbac_epochs').selectAll().orderBy('org').execute(),
  };
}

async function changeCount(db: Kysely<any>): Promise<number> {
  const row = await tables(db).selectFrom('rbac_changes').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
  return Number(row.n);
}

/** A store whose keepRefusal runs the record in a transaction of its own right away (for an unbound store). */
function setupKeep(db: Kysely<RbacTables>, clock: Clock): RbacStore {
  return createRbacStore({ db, clock, keepRefusal: (record) => db.transaction().execute(record) });
}

/**
 * Runs `runScopeProperties` inside the suite: random scoped actors and random sequences of API changes.
 * - No sequence of changes by a workspace-scoped actor alters anything outside its workspace: the org's
 *   roles (with their capabilities) and its bindings outside the workspace are the same before and after.
 * - No sequence of changes, by anyone, leaves the org without a subject able to manage its bindings,
 *   judged by an oracle of its own over the listed roles and bindings.
 */
const WORKSPACE = 'w1';

/** The actors of one run. Workspace-scoped: by what they hold, by their session, or both. */
const ACTORS = {
  root: { subject: 'root', workspace: null, scoped: false }, // the bootstrapped admin
  org: { subject: 'olga', workspace: null, scoped: false }, // manager org-wide
  held: { subject: 'wanda', workspace: null, scoped: true }, // manager in w1 only, org-wide session
  session: { subject: 'sean', workspace: WORKSPACE, scoped: true }, // manager org-wide, session bound to w1
  both: { subject: 'bess', workspace: WORKSPACE, scoped: true }, // manager in w1, session bound to w1
} as const;
type ActorName = keyof typeof ACTORS;
const SUBJECTS = ['root', 'olga', 'wanda', 'sean', 'bess', 'u1'] as const;

type Op =
  | { readonly op: 'grant'; readonly actor: ActorName; readonly subject: string; readonly role: number; readonly effect: 'allow' | 'deny'; readonly workspace: string | null; readonly expires: boolean }
  | { readonly op: 'revoke'; readonly actor: ActorName; readonly pick: number }
  | { readonly op: 'createRole'; readonly actor: ActorName; readonly name: string; readonly capabilities: string[] }
  | { readonly op: 'updateRole'; readonly actor: ActorName; readonly role: number; readonly capabilities: string[] }
  | { readonly op: 'deleteRole'; readonly actor: ActorName; readonly role: number };

function opArbitrary(actors: ReadonlyArray<ActorName>): fc.Arbitrary<Op> {
  const actor = fc.constantFrom(...actors);
  const capabilities = fc.subarray([...CATALOGUE]);
  return fc.oneof(
    { weight: 4, arbitrary: fc.record({ op: fc.constant('grant' as const), actor, subject: fc.constantFrom(...SUBJECTS), role: fc.nat(9), effect: fc.constantFrom('allow' as const, 'deny' as const), workspace: fc.constantFrom(null, WORKSPACE, 'w2'), expires: fc.boolean() }) },
    { weight: 3, arbitrary: fc.record({ op: fc.constant('revoke' as const), actor, pick: fc.nat(99) }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('createRole' as const), actor, name: fc.constantFrom('extra-a', 'extra-b'), capabilities }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('updateRole' as const), actor, role: fc.nat(9), capabilities }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('deleteRole' as const), actor, role: fc.nat(9) }) },
  );
}

/** The refusals a change may meet; anything else fails the property. */
function expectedRefusal(error: unknown): boolean {
  if (error instanceof EscalationRefusedError || error instanceof ScopeRefusedError) return true;
  return error instanceof RbacChangeError && ['ROLE_NOT_FOUND', 'ROLE_EXISTS', 'BINDING_NOT_FOUND', 'ORG_UNMANAGEABLE'].includes(error.code);
}

/**
 * Builds a fresh org for one run: root bootstrapped, the roles, and each of `actors` bound as its kind says
 * (the manager role: olga and sean org-wide, wanda and bess in w1), and u1 in w2.
 */
async function scopedOrg(rbac: RbacStore, org: string, actors: ReadonlyArray<ActorName>): Promise<void> {
  const root: RbacActor = { id: 'user:root', subject: 'root', workspace: null, requestId: null };
  await rbac.bootstrapTenant('ops', org, 'root', 'the property\'s admin');
  const manager = await rbac.createRole(root, org, { name: 'manager', capabilities: ['rbac.bindings.manage', 'rbac.roles.manage', 'tickets.read', 'tickets.write'] }, 'managers');
  await rbac.createRole(root, org, { name: 'reader', capabilities: ['tickets.read'] }, 'readers');
  await rbac.createRole(root, org, { name: 'binder', capabilities: ['rbac.bindings.manage'] }, 'binders');
  const where: Record<ActorName, string | null | undefined> = { root: undefined, org: null, held: WORKSPACE, session: null, both: WORKSPACE };
  for (const name of actors) {
    const workspace = where[name];
    if (workspace === undefined) continue;
    await rbac.grant(root, org, { subject: ACTORS[name].subject, roleId: manager.id, workspace }, `${name}: a manager`);
  }
  await rbac.grant(root, org, { subject: 'u1', roleId: manager.id, workspace: 'w2' }, 'u1 in w2');
}

/** Runs one random change; refusals are expected (and checked to be refusals), anything else is a failure. */
async function runOp(rbac: RbacStore, org: string, op: Op, now: number): Promise<void> {
  const who = ACTORS[op.actor];
  const actor: RbacActor = { id: `user:${who.subject}`, subject: who.subject, workspace: who.workspace, requestId: null };
  const roles = await rbac.listRoles(org);
  const bindings = await rbac.listBindings(org);
  // Half the revokes and denies aim at what keeps the org manageable (an even pick): the managing roles and
  // their org-wide allows. The rest of the pick chooses among those.
  const managing = roles.filter((r) => r.capabilities.includes('rbac.bindings.manage'));
  const managers = bindings.filter((b) => b.effect === 'allow' && b.workspace === null && managing.some((r) => r.id === b.roleId));
  const pick = <T>(n: number, aimed: ReadonlyArray<T>, all: ReadonlyArray<T>): T | undefined => {
    const among = n % 2 === 0 && aimed.length > 0 ? aimed : all;
    return among[Math.floor(n / 2) % Math.max(among.length, 1)];
  };
  const role = (n: number): Role | undefined => pick(n, [], roles);
  try {
    switch (op.op) {
      case 'grant': {
        const target = pick(op.role, op.effect === 'deny' ? managing : [], roles);
        if (target === undefined) return;
        const expiresAt = op.expires ? new Date(now + 3_600_000) : null;
        await rbac.grant(actor, org, { subject: op.subject, roleId: target.id, effect: op.effect, workspace: op.workspace, expiresAt }, 'random grant');
        return;
      }
      case 'revoke': {
        const target: Binding | undefined = pick(op.pick, managers, bindings);
        if (target !== undefined) await rbac.revoke(actor, org, target.id, 'random revoke');
        return;
      }
      case 'createRole':
        await rbac.createRole(actor, org, { name: op.name, capabilities: op.capabilities }, 'random role');
        return;
      case 'updateRole': {
        const target = role(op.role);
        if (target !== undefined) await rbac.updateRole(actor, org, target.id, { capabilities: op.capabilities, description: 'edited' }, 'random edit');
        return;
      }
      case 'deleteRole': {
        const target = role(op.role);
        if (target !== undefined) await rbac.deleteRole(actor, org, target.id, 'random delete');
        return;
      }
    }
  } catch (error) {
    if (!expectedRefusal(error)) throw error;
  }
}

/** What lies outside `workspace`: every role with its capabilities, and every binding not limited to `workspace`. */
async function outside(rbac: RbacStore, org: string, workspace: string): Promise<unknown> {
  return { roles: await rbac.listRoles(org), bindings: (await rbac.listBindings(org)).filter((b) => b.workspace !== workspace) };
}

/**
 * The oracle: some subject holds rbac.bindings.manage through an org-wide, resource-less, unexpiring allow,
 * and no unexpired deny of a role holding it applies to that subject anywhere.
 */
async function manageable(rbac: RbacStore, org: string, now: number): Promise<boolean> {
  const managing = new Set((await rbac.listRoles(org)).filter((r) => r.capabilities.includes('rbac.bindings.manage')).map((r) => r.id));
  const bindings = (await rbac.listBindings(org)).filter((b) => managing.has(b.roleId) && (b.expiresAt === null || Date.parse(b.expiresAt) > now));
  const denied = new Set(bindings.filter((b) => b.effect === 'deny').map((b) => b.subject));
  return bindings.some((b) => b.effect === 'allow' && b.workspace === null && b.resource === null && b.expiresAt === null && !denied.has(b.subject));
}

/**
 * The contract every RBAC backend honours (@covenant/rbac's `createRbacStore` on the database `factory`
 * opens). Each test opens a fresh migrated database and disposes it afterwards.
 */
export function runRbacConformance(factory: StoreConformanceFactory): void {
  describe(`RBAC store conformance (${factory.name})`, () => {
    const openDatabase = databasesPerTest(factory);

    /** A store with the catalogue registered; org_a bootstrapped with alice as its admin unless `bootstrap` is false. */
    const setup = async (options: { bootstrap?: boolean } & Pick<RbacStoreOptions, 'onChange' | 'keepRefusal'> = {}) => {
      const database = await openDatabase();
      const db = tables(database.db);
      const clock = manualClock();
      const hooks = {
        ...(options.onChange === undefined ? {} : { onChange: options.onChange }),
        ...(options.keepRefusal === undefined ? {} : { keepRefusal: options.keepRefusal }),
      };
      const rbac = createRbacStore({ db, clock, ids: counterIds(), ...hooks });
      await rbac.registerCapabilities(CATALOGUE, 'contract');
      if (options.bootstrap !== false) await rbac.bootstrapTenant('ops', 'org_a', 'alice', 'first admin of org_a');
      /** A second store on another connection to the same database (another process, in effect). */
      const second = async (): Promise<RbacStore> => createRbacStore({ db: tables(await database.another()), clock });
      return { db, owner: tables(database.owner), rbac, clock, another: database.another, second };
    };

    describe('decisions', () => {
      it('default deny: no binding, another org, an unknown or an invalid capability are all refused', async () => {
        const { rbac } = await setup();
        expect(await check(rbac, 'bob', 'org_a', 'tickets.read')).toMatchObject({ kind: 'authorization', allowed: false, code: 'authz.missing_capability' });
        expect(await check(rbac, 'alice', 'org_b', 'tickets.read')).toMatchObject({ kind: 'authorization', allowed: false, code: 'authz.missing_capability' });
        expect(await check(rbac, 'alice', 'org_a', 'tickets.archive')).toMatchObject({ kind: 'authorization', allowed: false, code: 'authz.unknown_capability' });
        expect(await check(rbac, 'alice', 'org_a', 'Not A Capability')).toMatchObject({ kind: 'authorization', allowed: false, code: 'authz.invalid_capability' });
        // The bootstrapped admin holds every catalogue capability, in org_a only.
        for (const capability of CATALOGUE) expect(await allowed(rbac, 'alice', 'org_a', capability)).toBe(true);
        expect(await rbac.capabilities()).toEqual(CATALOGUE);
      });

      it('allow: a granted role gives exactly its capabilities to its subject, and names the binding that matched', async () => {
        const { rbac } = await setup();
        const reader = await rbac.createRole(ALICE, 'org_a', { name: 'reader', capabilities: ['tickets.read', 'projects.read'] }, 'readers');
        expect(reader.capabilities).toEqual(['projects.read', 'tickets.read']);
        expect((await rbac.listRoles('org_a')).map((role) => role.name)).toEqual(['admin', 'reader']);
        const binding = await rbac.grant(ALICE, 'org_a', { subject: 'bob', roleId: reader.id }, 'bob reads');
        expect(await check(rbac, 'bob', 'org_a', 'tickets.read')).toEqual({ kind: 'authorization', allowed: true, code: 'authz.allowed', capability: 'tickets.read', resource: null, matched: binding.id });
        expect(await allowed(rbac, 'bob', 'org_a', 'projects.read')).toBe(true);
        expect(await check(rbac, 'bob', 'org_a', 'tickets.write')).toMatchObject({ kind: 'authorization', allowed: false, code: 'authz.missing_capability' });
        expect(await allowed(rbac, 'carol', 'org_a', 'tickets.read')).toBe(false);
        expect(await allowed(rbac, 'bob', 'org_b', 'tickets.read')).toBe(false);
        expect((await rbac.listBindings('org_a', { subject: 'bob' })).map((b) => b.id)).toEqual([binding.id]);
      });

      it('deny wins over any allow, in its scope only', async () => {
        const { rbac } = await setup();
        const reader = await rbac.createRole(ALICE, 'org_a', { name: 'reader', capabilities: ['tickets.read'] }, 'readers');
        await rbac.grant(ALICE, 'org_a', { subject: 'bob', roleId: reader.id }, 'bob reads');
        await rbac.grant(ALICE, 'org_a', { subject: 'bob', roleId: reader.id, effect: 'deny', resource: { type: 'ticket', id: 't1' } }, 'not t1');
        expect(await check(rbac, 'bob', 'org_a', 'tickets.read', { type: 'ticket', id: 't1' })).toMatchObject({ kind: 'authorization', allowed: false, code: 'authz.denied_by_binding' });
        expect(await allowed(rbac, 'bob', 'org_a', 'tickets.read', { type: 'ticket', id: 't2' })).toBe(true);
        expect(await allowed(rbac, 'bob', 'org_a', 'tickets.read')).toBe(true);
        // An org-wide deny beats the admin's org-wide allow.
        await rbac.grant(ALICE, 'org_a', { subject: 'alice', roleId: reader.id, effect: 'deny' }, 'alice stops reading');
        expect(await check(rbac, 'alice', 'org_a', 'tickets.read')).toMatchObject({ kind: 'authorization', allowed: false, code: 'authz.denied_by_binding' });
        expect(await allowed(rbac, 'alice', 'org_a', 'tickets.write')).toBe(true);
      });

      it('workspace scoping: a workspace binding applies in that workspace only; an org-wide one in every workspace', async () => {
        const { rbac } = await setup();
        const reader = await rbac.createRole(ALICE, 'org_a', { name: 'reader', capabilities: ['tickets.read'] }, 'readers');
        const writer = await rbac.createRole(ALICE, 'org_a', { name: 'writer', capabilities: ['tickets.write'] }, 'writers');
        await rbac.grant(ALICE, 'org_a', { subject: 'bob', roleId: writer.id, workspace: 'ws_1' }, 'bob writes in ws_1');
        await rbac.grant(ALICE, 'org_a', { subject: 'bob', roleId: reader.id }, 'bob reads everywhere');
        expect(await allowed(rbac, 'bob', 'org_a', 'tickets.write', null, 'ws_1')).toBe(true);
        expect(await allowed(rbac, 'bob', 'org_a', 'tickets.write', null, 'ws_2')).toBe(false);
        expect(await allowed(rbac, 'bob', 'org_a', 'tickets.write')).toBe(false);
        for (const workspace of ['ws_1', 'ws_2', null]) expect(await allowed(rbac, 'bob', 'org_a', 'tickets.read', null, workspace)).toBe(true);
        // A deny in one workspace leaves the others alone.
        await rbac.grant(ALICE, 'org_a', { subject: 'bob', roleId: reader.id, effect: 'deny', workspace: 'ws_2' }, 'not in ws_2');
        expect(await allowed(rbac, 'bob', 'org_a', 'tickets.read', null, 'ws_2')).toBe(false);
        expect(await allowed(rbac, 'bob', 'org_a', 'tickets.read', null, 'ws_1')).toBe(true);
      });

      it('resource scoping: one resource, or every resource of a type; never the tenant as a whole', async () => {
        const { rbac } = await setup();
        const writer = await rbac.createRole(ALICE, 'org_a', { name: 'writer', capabilities: ['tickets.write'] }, 'writers');
        const reader = await rbac.createRole(ALICE, 'org_a', { name: 'reader', capabilities: ['tickets.read'] }, 'readers');
        await rbac.grant(ALICE, 'org_a', { subject: 'bob', roleId: writer.id, resource: { type: 'ticket', id: 't1' } }, 'bob writes t1');
        await rbac.grant(ALICE, 'org_a', { subject: 'bob', roleId: reader.id, resource: { type: 'ticket', id: '*' } }, 'bob reads tickets');
        expect(await allowed(rbac, 'bob', 'org_a', 'tickets.write', { type: 'ticket', id: 't1' })).toBe(true);
        expect(await allowed(rbac, 'bob', 'org_a', 'tickets.write', { type: 'ticket', id: 't2' })).toBe(false);
        expect(await allowed(rbac, 'bob', 'org_a', 'tickets.write', { type: 'project', id: 't1' })).toBe(false);
        expect(await allowed(rbac, 'bob', 'org_a', 'tickets.write')).toBe(false);
        expect(await allowed(rbac, 'bob', 'org_a', 'tickets.read', { type: 'ticket', id: 't9' })).toBe(true);
        expect(await allowed(rbac, 'bob', 'org_a', 'tickets.read', { type: 'project', id: 'p1' })).toBe(false);
        expect(await allowed(rbac, 'bob', 'org_a', 'tickets.read')).toBe(false);
      });

      it('expiry: a binding stops at its expiry on the injected clock, even with the decision cached', async () => {
        const { rbac, clock } = await setup();
        const reader = await rbac.createRole(ALICE, 'org_a', { name: 'reader', capabilities: ['tickets.read'] }, 'readers');
        const binding = await rbac.grant(ALICE, 'org_a', { subject: 'bob', roleId: reader.id, expiresAt: new Date(T0 + 60_000) }, 'for a minute');
        expect(binding.expiresAt).toBe(new Date(T0 + 60_000).toISOString());
        expect(await allowed(rbac, 'bob', 'org_a', 'tickets.read')).toBe(true);
        clock.advance(59_999);
        expect(await allowed(rbac, 'bob', 'org_a', 'tickets.read')).toBe(true);
        clock.advance(1);
        expect(await allowed(rbac, 'bob', 'org_a', 'tickets.read')).toBe(false);
        // The row stays (revocable, on record); it just no longer grants.
        expect((await rbac.listBindings('org_a', { subject: 'bob' })).map((b) => b.id)).toEqual([binding.id]);
      });
    });

    describe('freshness (the epoch rule)', () => {
      it('a revoke takes effect on the next check of the same store, though the allow was cached; the epoch moves', async () => {
        const { db, rbac } = await setup();
        const reader = await rbac.createRole(ALICE, 'org_a', { name: 'reader', capabilities: ['tickets.read'] }, 'readers');
        const binding = await rbac.grant(ALICE, 'org_a', { subject: 'bob', roleId: reader.id }, 'bob reads');
        expect(await allowed(rbac, 'bob', 'org_a', 'tickets.read')).toBe(true);
        expect(await allowed(rbac, 'bob', 'org_a', 'tickets.read')).toBe(true);
        const before = await epochOf(db, 'org_a');
        await rbac.revoke(ALICE, 'org_a', binding.id, 'no longer');
        expect(await epochOf(db, 'org_a')).toBe(before + 1);
        expect(await allowed(rbac, 'bob', 'org_a', 'tickets.read')).toBe(false);
        await expect(rbac.revoke(ALICE, 'org_a', binding.id, 'twice')).rejects.toMatchObject({ code: 'BINDING_NOT_FOUND' });
      });

      it('a second store on another connection sees a revoke and a grant on its next check, though its decisions were cached', async () => {
        const { rbac, second } = await setup();
        const reader = await rbac.createRole(ALICE, 'org_a', { name: 'reader', capabilities: ['tickets.read'] }, 'readers');
        const binding = await rbac.grant(ALICE, 'org_a', { subject: 'bob', roleId: reader.id }, 'bob reads');
        const other = await second();
        expect(await allowed(other, 'bob', 'org_a', 'tickets.read')).toBe(true);
        expect(await allowed(other, 'bob', 'org_a', 'tickets.read')).toBe(true);
        expect(await allowed(other, 'carol', 'org_a', 'tickets.read')).toBe(false);
        await rbac.revoke(ALICE, 'org_a', binding.id, 'no longer');
        await rbac.grant(ALICE, 'org_a', { subject: 'carol', roleId: reader.id }, 'carol reads');
        expect(await allowed(other, 'bob', 'org_a', 'tickets.read')).toBe(false);
        expect(await allowed(other, 'carol', 'org_a', 'tickets.read')).toBe(true);
        // And the other way round: the second store's change reaches the first.
        const carols = await other.listBindings('org_a', { subject: 'carol' });
        await other.revoke(ALICE, 'org_a', carols[0]!.id, 'carol is done');
        expect(await allowed(rbac, 'carol', 'org_a', 'tickets.read')).toBe(false);
      });
    });

    describe('changes', () => {
      it('refuses an escalation: nothing changes but the record of the refusal', async () => {
        const { db, rbac } = await setup();
        const reader = await rbac.createRole(ALICE, 'org_a', { name: 'reader', capabilities: ['tickets.read'] }, 'readers');
        const writer = await rbac.createRole(ALICE, 'org_a', { name: 'writer', capabilities: ['tickets.read', 'tickets.write'] }, 'writers');
        const manager = await rbac.createRole(ALICE, 'org_a', { name: 'manager', capabilities: ['rbac.bindings.manage', 'rbac.roles.manage'] }, 'managers');
        await rbac.grant(ALICE, 'org_a', { subject: 'bob', roleId: reader.id }, 'bob reads');
        await rbac.grant(ALICE, 'org_a', { subject: 'bob', roleId: manager.id }, 'bob manages');
        const before = await snapshot(db);
        const records = await changeCount(db);
        const error = await rbac.grant(BOB, 'org_a', { subject: 'bob', roleId: writer.id }, 'self-promotion').catch((e: unknown) => e);
        expect(error).toBeInstanceOf(EscalationRefusedError);
        expect((error as EscalationRefusedError).capabilities).toEqual(['tickets.write']);
        // Through a role edit too.
        await expect(rbac.updateRole(BOB, 'org_a', reader.id, { capabilities: ['tickets.read', 'tickets.delete'] }, 'sneaky')).rejects.toBeInstanceOf(EscalationRefusedError);
        expect(await snapshot(db)).toEqual(before);
        expect(await changeCount(db)).toBe(records + 2);
        const [roleEdit, grant] = await rbac.changes('org_a', { limit: 2 });
        expect(grant).toMatchObject({ actor: 'user:bob', action: 'bindings.grant', outcome: 'refused', reason: 'self-promotion', requestId: 'req-bob', before: null, after: { missing: ['tickets.write'] } });
        expect(roleEdit).toMatchObject({ action: 'roles.update', outcome: 'refused', after: { missing: ['tickets.delete'] } });
        expect(await allowed(rbac, 'bob', 'org_a', 'tickets.write')).toBe(false);
        // What bob holds he may hand out.
        await rbac.grant(BOB, 'org_a', { subject: 'carol', roleId: reader.id }, 'carol reads');
        expect(await allowed(rbac, 'carol', 'org_a', 'tickets.read')).toBe(true);
      });

      it('records every change in order, newest first, with before and after', async () => {
        const { db, owner, rbac, clock } = await setup();
        const role = await rbac.createRole(ALICE, 'org_a', { name: 'reader', capabilities: ['tickets.read'] }, 'readers');
        clock.advance(1_000);
        const updated = await rbac.updateRole(ALICE, 'org_a', role.id, { capabilities: ['tickets.read', 'projects.read'], description: 'reads' }, 'projects too');
        const binding = await rbac.grant(ALICE, 'org_a', { subject: 'bob', roleId: role.id }, 'bob reads');
        await rbac.revoke(user('alice', 'req-2'), 'org_a', binding.id, 'done');
        await rbac.deleteRole(ALICE, 'org_a', role.id, 'readers retired');
        const changes = await rbac.changes('org_a');
        expect(changes.map((c) => c.action)).toEqual(['roles.delete', 'bindings.revoke', 'bindings.grant', 'roles.update', 'roles.create', 'tenant.bootstrap']);
        const seqs = changes.map((c) => c.seq);
        expect(seqs.every((seq) => Number.isSafeInteger(seq))).toBe(true);
        expect([...new Set(seqs)].sort((a, b) => b - a)).toEqual(seqs);
        const [deleted, revoked, granted, edited, created, bootstrap] = changes;
        expect(created).toMatchObject({ actor: 'user:alice', outcome: 'applied', reason: 'readers', before: null, after: role, requestId: 'req-alice', at: new Date(T0).toISOString() });
        expect(edited).toMatchObject({ before: role, after: updated, at: new Date(T0 + 1_000).toISOString() });
        expect(updated).toMatchObject({ description: 'reads', capabilities: ['projects.read', 'tickets.read'] });
        expect(granted).toMatchObject({ before: null, after: binding });
        expect(revoked).toMatchObject({ before: binding, after: null, requestId: 'req-2', reason: 'done' });
        expect(deleted).toMatchObject({ before: { role: updated, bindings: [] }, after: null });
        expect(bootstrap).toMatchObject({ actor: 'operator:ops', requestId: null });
        expect((await rbac.changes('org_a', { limit: 2 })).map((c) => c.seq)).toEqual(seqs.slice(0, 2));
        expect(await rbac.changes('org_b')).toEqual([]);
        // The record is append-only in the database too: the triggers refuse even the owner, and on PostgreSQL
        // the store's own (serving) role has no UPDATE or DELETE on it in the first place.
        await expect(owner.deleteFrom('rbac_changes').execute()).rejects.toThrow('rbac_changes is append-only');
        await expect(owner.updateTable('rbac_changes').set({ reason: 'forged' }).execute()).rejects.toThrow('rbac_changes is append-only');
        await expect(db.deleteFrom('rbac_changes').execute()).rejects.toThrow(/rbac_changes is append-only|permission denied for table rbac_changes/);
        await expect(db.updateTable('rbac_changes').set({ reason: 'forged' }).execute()).rejects.toThrow(/rbac_changes is append-only|permission denied for table rbac_changes/);
      });

      it('refuses invalid and cross-tenant changes without changing anything', async () => {
        const { db, rbac } = await setup();
        await rbac.bootstrapTenant('ops', 'org_b', 'bea', 'first admin of org_b');
        const before = await snapshot(db);
        const [orgBRole] = await rbac.listRoles('org_b');
        // org_a's admin cannot bind anyone to org_b's role, nor revoke org_b's bindings from org_a.
        await expect(rbac.grant(ALICE, 'org_a', { subject: 'bob', roleId: orgBRole!.id }, 'reach across')).rejects.toMatchObject({ code: 'ROLE_NOT_FOUND' });
        const [orgBBinding] = await rbac.listBindings('org_b');
        await expect(rbac.revoke(ALICE, 'org_a', orgBBinding!.id, 'reach across')).rejects.toMatchObject({ code: 'BINDING_NOT_FOUND' });
        await expect(rbac.createRole(ALICE, 'org_a', { name: 'admin', capabilities: [] }, 'duplicate')).rejects.toMatchObject({ code: 'ROLE_EXISTS' });
        await expect(rbac.createRole(ALICE, 'org_a', { name: 'x', capabilities: ['tickets.archive'] }, 'unknown')).rejects.toMatchObject({ code: 'UNKNOWN_CAPABILITY' });
        await expect(rbac.createRole(ALICE, 'org_a', { name: 'y', capabilities: [] }, '')).rejects.toBeInstanceOf(TypeError);
        expect(await snapshot(db)).toEqual(before);
        expect(await allowed(rbac, 'alice', 'org_b', 'tickets.read')).toBe(false);
        expect(await allowed(rbac, 'bea', 'org_b', 'tickets.read')).toBe(true);
      });
    });

    describe('scope and manageability (properties over random scoped actors and changes)', () => {
      const RUNS = { numRuns: 25 };
      const SCOPED = (Object.keys(ACTORS) as ActorName[]).filter((name) => ACTORS[name].scoped);

      it('no sequence of changes by workspace-scoped actors alters the org’s roles or its bindings outside their workspace', async () => {
        const { rbac, clock } = await setup({ bootstrap: false });
        let run = 0;
        let appliedInside = 0;
        await fc.assert(
          fc.asyncProperty(fc.array(opArbitrary(SCOPED), { minLength: 1, maxLength: 10 }), async (ops) => {
            const org = `org_scope_${(run += 1)}`;
            await scopedOrg(rbac, org, Object.keys(ACTORS) as ActorName[]);
            const before = await outside(rbac, org, WORKSPACE);
            const changes = (await rbac.changes(org, { limit: 1000 })).length;
            for (const op of ops) await runOp(rbac, org, op, clock.now().getTime());
            expect(await outside(rbac, org, WORKSPACE)).toEqual(before);
            const recorded = await rbac.changes(org, { limit: 1000 }); // newest first
            appliedInside += recorded.slice(0, recorded.length - changes).filter((c) => c.outcome === 'applied').length;
          }),
          {
            ...RUNS,
            // Always tried too: the attack (revoke the org-wide admin binding, deny the admins their
            // role org-wide), and a grant inside w1 that must go through. Roles list as admin, binder, manager, reader.
            examples: [
              [
                [
                  { op: 'revoke', actor: 'held', pick: 0 },
                  { op: 'grant', actor: 'both', subject: 'root', role: 0, effect: 'deny', workspace: null, expires: false },
                  { op: 'grant', actor: 'session', subject: 'olga', role: 0, effect: 'deny', workspace: null, expires: false },
                  { op: 'grant', actor: 'held', subject: 'u1', role: 7, effect: 'allow', workspace: WORKSPACE, expires: false },
                ],
              ],
            ],
          },
        );
        // Not vacuous: the scoped actors did change things, inside their workspace.
        expect(appliedInside).toBeGreaterThan(0);
      });

      it('no sequence of changes by anyone (org-wide admins included) leaves the org without a principal able to manage bindings', async () => {
        const { rbac, clock } = await setup({ bootstrap: false });
        let run = 0;
        let refusedUnmanageable = 0;
        // Two managers of the whole org (root, olga) and two of w1 only: few enough that random sequences
        // do try to remove the last one.
        const actors: ActorName[] = ['root', 'org', 'held', 'both'];
        await fc.assert(
          fc.asyncProperty(fc.array(opArbitrary(actors), { minLength: 1, maxLength: 12 }), async (ops) => {
            const org = `org_manage_${(run += 1)}`;
            await scopedOrg(rbac, org, actors);
            for (const op of ops) {
              await runOp(rbac, org, op, clock.now().getTime());
              expect(await manageable(rbac, org, clock.now().getTime())).toBe(true);
            }
            refusedUnmanageable += (await rbac.changes(org, { limit: 1000 })).filter((c) => (c.after as { code?: string } | null)?.code === 'ORG_UNMANAGEABLE').length;
          }),
          {
            ...RUNS,
            // Always tried too: olga revokes root's admin binding (she remains), then her own (refused).
            examples: [
              [
                [
                  { op: 'revoke', actor: 'org', pick: 0 },
                  { op: 'revoke', actor: 'org', pick: 0 },
                ],
              ],
            ],
          },
        );
        // Not vacuous: some sequences did try to lock the org out, and were refused.
        expect(refusedUnmanageable).toBeGreaterThan(0);
      });

      it('two concurrent changes that each leave a manager but together none cannot both commit (two connections, as two processes)', async () => {
        const { rbac, second } = await setup({ bootstrap: false });
        const other = await second();
        for (let round = 0; round < 5; round += 1) {
          const org = `org_race_${round}`;
          const { role, binding: alices } = await rbac.bootstrapTenant('ops', org, 'alice', 'first admin of the race');
          const bobs = await rbac.grant(user('alice'), org, { subject: 'bob', roleId: role.id }, 'a second admin');
          // Each alone leaves the other admin; both together would leave nobody.
          const results = await Promise.allSettled([
            rbac.revoke(user('alice'), org, bobs.id, 'alice removes bob'),
            other.revoke(user('bob'), org, alices.id, 'bob removes alice'),
          ]);
          expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
          const managers = await Promise.all(['alice', 'bob'].map((subject) => check(rbac, subject, org, 'rbac.bindings.manage')));
          expect(managers.filter((decision) => decision.allowed)).toHaveLength(1);
        }
      });
    });

    describe('tenant bootstrap', () => {
      it('bootstraps a tenant once: a second bootstrap is refused; extendBootstrapRole adds capabilities declared later', async () => {
        const { db, rbac } = await setup({ bootstrap: false });
        await expect(rbac.extendBootstrapRole('ops', 'org_a', 'too early')).rejects.toMatchObject({ code: 'ROLE_NOT_FOUND' });
        const { role, binding } = await rbac.bootstrapTenant('ops', 'org_a', 'alice', 'org_a signed');
        expect(role).toMatchObject({ name: 'admin', capabilities: CATALOGUE });
        expect(binding).toMatchObject({ subject: 'alice', roleId: role.id, effect: 'allow', createdBy: 'operator:ops' });
        const before = await snapshot(db);
        const error = await rbac.bootstrapTenant('ops', 'org_a', 'mallory', 'again').catch((e: unknown) => e);
        expect(error).toBeInstanceOf(RbacChangeError);
        expect(error).toMatchObject({ code: 'TENANT_ALREADY_BOOTSTRAPPED' });
        expect(await snapshot(db)).toEqual(before);
        expect(await allowed(rbac, 'mallory', 'org_a', 'tickets.read')).toBe(false);

        await rbac.registerCapabilities(['invoices.read'], 'registered');
        expect(await allowed(rbac, 'alice', 'org_a', 'invoices.read')).toBe(false);
        expect(await rbac.extendBootstrapRole('ops', 'org_a', 'invoices shipped')).toEqual(['invoices.read']);
        expect(await allowed(rbac, 'alice', 'org_a', 'invoices.read')).toBe(true);
        expect(await rbac.extendBootstrapRole('ops', 'org_a', 'nothing new')).toEqual([]);
        expect((await rbac.changes('org_a')).map((c) => c.action)).toEqual(['tenant.extend_bootstrap_role', 'tenant.extend_bootstrap_role', 'tenant.bootstrap']);
      });
    });

    describe('bound to an outer transaction', () => {
      /** onChange writes a copy of every event through the handle it is given: it must share the change's fate. */
      const recording = async () => {
        const events: RbacChangeEvent[] = [];
        const f = await setup({
          bootstrap: false,
          onChange: async (event, trx) => {
            await (trx as unknown as Kysely<{ audit_copy: { action: string } }>).insertInto('audit_copy').values({ action: event.action }).execute();
            events.push(event);
          },
        });
        await f.owner.schema.createTable('audit_copy').addColumn('action', 'text', (c) => c.notNull()).execute();
        await grantToService(f.owner, 'audit_copy');
        await f.rbac.bootstrapTenant('ops', 'org_a', 'alice', 'first admin of org_a');
        const copies = async (): Promise<string[]> =>
          (await (f.db as unknown as Kysely<{ audit_copy: { action: string } }>).selectFrom('audit_copy').select('action').execute()).map((r) => r.action);
        return { ...f, events, copies };
      };

      it('bind(): changes and onChange writes commit with the outer transaction; checks inside see them first', async () => {
        const f = await recording();
        const other = await f.second();
        const role = await f.db.transaction().execute(async (trx) => {
          const bound = f.rbac.bind(trx);
          const created = await bound.createRole(ALICE, 'org_a', { name: 'reader', capabilities: ['tickets.read'] }, 'readers');
          await bound.grant(ALICE, 'org_a', { subject: 'bob', roleId: created.id }, 'bob reads');
          expect(await allowed(bound, 'bob', 'org_a', 'tickets.read')).toBe(true);
          return created;
        });
        expect((await f.rbac.listRoles('org_a')).map((r) => r.id)).toContain(role.id);
        expect(await allowed(f.rbac, 'bob', 'org_a', 'tickets.read')).toBe(true);
        expect(await allowed(other, 'bob', 'org_a', 'tickets.read')).toBe(true);
        expect(await f.copies()).toEqual(['tenant.bootstrap', 'roles.create', 'bindings.grant']);
        expect(f.events.map((e) => [e.org, e.action, e.outcome])).toEqual([
          ['org_a', 'tenant.bootstrap', 'applied'],
          ['org_a', 'roles.create', 'applied'],
          ['org_a', 'bindings.grant', 'applied'],
        ]);
        expect(f.events[1]).toMatchObject({ actor: 'user:alice', reason: 'readers', before: null, after: role, requestId: 'req-alice' });
      });

      it('bind(): the changes, their records and onChange writes roll back with the outer transaction', async () => {
        const f = await recording();
        const before = await snapshot(f.db);
        const records = await changeCount(f.db);
        const failure = new Error('the audited call failed');
        await expect(
          f.db.transaction().execute(async (trx) => {
            const bound = f.rbac.bind(trx);
            await bound.createRole(ALICE, 'org_a', { name: 'ghost', capabilities: ['tickets.read'] }, 'never');
            expect((await bound.listRoles('org_a')).map((role) => role.name)).toContain('ghost');
            throw failure;
          }),
        ).rejects.toBe(failure);
        expect((await f.rbac.listRoles('org_a')).map((role) => role.name)).toEqual(['admin']);
        expect(await snapshot(f.db)).toEqual(before);
        expect(await changeCount(f.db)).toBe(records);
        expect(await f.copies()).toEqual(['tenant.bootstrap']);
      });

      it('bind() with keepRefusal: a refusal fails the outer transaction, and its record (and onChange) outlives the rollback', async () => {
        // The hook is handed the write and runs it once the caller's transaction has ended, as the ledger's
        // next batch does (recordChangesOn): here explicitly, after the rollback.
        const kept: Array<(db: Kysely<RbacTables>) => Promise<void>> = [];
        const events: RbacChangeEvent[] = [];
        const f = await setup({ onChange: (event) => void events.push(event), keepRefusal: (record) => void kept.push(record) });
        const reader = await f.rbac.createRole(ALICE, 'org_a', { name: 'reader', capabilities: ['tickets.read'] }, 'readers');
        await f.rbac.grant(ALICE, 'org_a', { subject: 'bob', roleId: reader.id, workspace: 'ws_1' }, 'bob reads ws_1');
        const before = await snapshot(f.db);
        const records = await changeCount(f.db);
        const refused = await f.db
          .transaction()
          .execute(async (trx) => {
            await f.rbac.bind(trx).createRole(ALICE, 'org_a', { name: 'ghost', capabilities: [] }, 'rolled back with the call');
            return f.rbac.bind(trx).grant(BOB, 'org_a', { subject: 'bob', roleId: reader.id }, 'bob reaches org-wide');
          })
          .catch((e: unknown) => e);
        expect(refused).toBeInstanceOf(ScopeRefusedError);
        expect(await snapshot(f.db)).toEqual(before); // the ghost role rolled back with the call
        expect(await changeCount(f.db)).toBe(records); // and nothing was written inside it
        expect(kept).toHaveLength(1);
        await f.db.transaction().execute((trx) => kept[0]!(trx));
        expect(await changeCount(f.db)).toBe(records + 1);
        expect((await f.rbac.changes('org_a', { limit: 1 }))[0]).toMatchObject({ actor: 'user:bob', action: 'bindings.grant', outcome: 'refused', requestId: 'req-bob' });
        expect(events.at(-1)).toMatchObject({ action: 'bindings.grant', outcome: 'refused', after: { code: 'ERR_RBAC_SCOPE_REFUSED' } });
        // Unbound, the store waits for the hook before it throws: the record is there when the refusal is.
        const unbound = setupKeep(f.db, f.clock);
        await expect(unbound.grant(BOB, 'org_a', { subject: 'bob', roleId: reader.id }, 'again')).rejects.toBeInstanceOf(ScopeRefusedError);
        expect(await changeCount(f.db)).toBe(records + 2);
      });

      it('a change whose onChange throws rolls back entirely, bound or not', async () => {
        const refuse = new Error('ledger unavailable');
        let fail = false;
        const f = await setup({
          onChange: () => {
            if (fail) throw refuse;
          },
        });
        const before = await snapshot(f.db);
        const records = await changeCount(f.db);
        fail = true;
        await expect(f.rbac.createRole(ALICE, 'org_a', { name: 'reader', capabilities: ['tickets.read'] }, 'readers')).rejects.toBe(refuse);
        await f.db.transaction().execute(async (trx) => {
          await expect(f.rbac.bind(trx).createRole(ALICE, 'org_a', { name: 'reader', capabilities: ['tickets.read'] }, 'readers')).rejects.toBe(refuse);
          // The failed change was a savepoint: the outer transaction is still usable.
          expect((await f.rbac.bind(trx).listRoles('org_a')).map((r) => r.name)).toEqual(['admin']);
        });
        expect(await snapshot(f.db)).toEqual(before);
        expect(await changeCount(f.db)).toBe(records);
      });
    });
  });
}
