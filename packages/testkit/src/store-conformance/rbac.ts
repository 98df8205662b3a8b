import { EscalationRefusedError, RbacChangeError, createRbacStore, type RbacChangeEvent, type RbacStore, type RbacTables } from '@covenant/rbac';
import type { AuthorizationDecision, ResourceSelector } from '@covenant/server';
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

const user = (subject: string, requestId: string | null = null) => ({ id: `user:${subject}`, subject, requestId });
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
  const principal = { subject, tenant: { org, workspace }, session: null, tokenId: null, issuer: 'https://issuer.test', issuedAt: null, expiresAt: 0 };
  return rbac.check({ principal, capability, resource });
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

/**
 * The contract every RBAC backend honours (@covenant/rbac's `createRbacStore` on the database `factory`
 * opens). Each test opens a fresh migrated database and disposes it afterwards.
 */
export function runRbacConformance(factory: StoreConformanceFactory): void {
  describe(`RBAC store conformance (${factory.name})`, () => {
    const openDatabase = databasesPerTest(factory);

    /** A store with the catalogue registered; org_a bootstrapped with alice as its admin unless `bootstrap` is false. */
    const setup = async (options: { bootstrap?: boolean; onChange?: (change: RbacChangeEvent, db: Kysely<RbacTables>) => void | Promise<void> } = {}) => {
      const database = await openDatabase();
      const db = tables(database.db);
      const clock = manualClock();
      const rbac = createRbacStore({ db, clock: clock.now, ids: counterIds(), ...(options.onChange === undefined ? {} : { onChange: options.onChange }) });
      await rbac.registerCapabilities(CATALOGUE, 'contract');
      if (options.bootstrap !== false) await rbac.bootstrapTenant('ops', 'org_a', 'alice', 'first admin of org_a');
      /** A second store on another connection to the same database (another process, in effect). */
      const second = async (): Promise<RbacStore> => createRbacStore({ db: tables(await database.another()), clock: clock.now });
      return { db, owner: tables(database.owner), rbac, clock, another: database.another, second };
    };

    describe('decisions', () => {
      it('default deny: no binding, another org, an unknown or an invalid capability are all refused', async () => {
        const { rbac } = await setup();
        expect(await check(rbac, 'bob', 'org_a', 'tickets.read')).toMatchObject({ allowed: false, code: 'rbac.missing_capability' });
        expect(await check(rbac, 'alice', 'org_b', 'tickets.read')).toMatchObject({ allowed: false, code: 'rbac.missing_capability' });
        expect(await check(rbac, 'alice', 'org_a', 'tickets.archive')).toMatchObject({ allowed: false, code: 'rbac.unknown_capability' });
        expect(await check(rbac, 'alice', 'org_a', 'Not A Capability')).toMatchObject({ allowed: false, code: 'rbac.invalid_capability' });
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
        expect(await check(rbac, 'bob', 'org_a', 'tickets.read')).toEqual({ allowed: true, code: 'rbac.allowed', capability: 'tickets.read', resource: null, matched: binding.id });
        expect(await allowed(rbac, 'bob', 'org_a', 'projects.read')).toBe(true);
        expect(await check(rbac, 'bob', 'org_a', 'tickets.write')).toMatchObject({ allowed: false, code: 'rbac.missing_capability' });
        expect(await allowed(rbac, 'carol', 'org_a', 'tickets.read')).toBe(false);
        expect(await allowed(rbac, 'bob', 'org_b', 'tickets.read')).toBe(false);
        expect((await rbac.listBindings('org_a', { subject: 'bob' })).map((b) => b.id)).toEqual([binding.id]);
      });

      it('deny wins over any allow, in its scope only', async () => {
        const { rbac } = await setup();
        const reader = await rbac.createRole(ALICE, 'org_a', { name: 'reader', capabilities: ['tickets.read'] }, 'readers');
        await rbac.grant(ALICE, 'org_a', { subject: 'bob', roleId: reader.id }, 'bob reads');
        await rbac.grant(ALICE, 'org_a', { subject: 'bob', roleId: reader.id, effect: 'deny', resource: { type: 'ticket', id: 't1' } }, 'not t1');
        expect(await check(rbac, 'bob', 'org_a', 'tickets.read', { type: 'ticket', id: 't1' })).toMatchObject({ allowed: false, code: 'rbac.denied_by_binding' });
        expect(await allowed(rbac, 'bob', 'org_a', 'tickets.read', { type: 'ticket', id: 't2' })).toBe(true);
        expect(await allowed(rbac, 'bob', 'org_a', 'tickets.read')).toBe(true);
        // An org-wide deny beats the admin's org-wide allow.
        await rbac.grant(ALICE, 'org_a', { subject: 'alice', roleId: reader.id, effect: 'deny' }, 'alice stops reading');
        expect(await check(rbac, 'alice', 'org_a', 'tickets.read')).toMatchObject({ allowed: false, code: 'rbac.denied_by_binding' });
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
