import { randomUUID } from 'node:crypto';
import { isValidCapability } from '@covenant/contract';
import type { AuthorizationDecision, AuthorizationPort, AuthorizationRequest } from '@covenant/server';
import type { Kysely, Transaction } from 'kysely';
import { EscalationRefusedError, RbacChangeError } from './errors.ts';
import { evaluate, type Grant } from './evaluate.ts';
import type { Binding, ChangeRecord, RbacActor, ResourceScope, Role } from './model.ts';
import type { RbacTables } from './tables.ts';

export interface RbacStoreOptions {
  readonly db: Kysely<RbacTables>;
  readonly clock?: () => Date;
  readonly ids?: () => string;
  /** How many (org, subject, workspace) grant sets the decision cache keeps (default 10 000; 0 disables it). */
  readonly cacheSize?: number;
}

export interface NewRole {
  readonly name: string;
  readonly description?: string | null;
  readonly capabilities: ReadonlyArray<string>;
}

export interface RoleChanges {
  readonly description?: string | null;
  readonly capabilities?: ReadonlyArray<string>;
}

export interface NewBinding {
  readonly subject: string;
  readonly roleId: string;
  readonly effect?: 'allow' | 'deny';
  readonly workspace?: string | null;
  readonly resource?: ResourceScope | null;
  readonly expiresAt?: Date | null;
}

/**
 * The RBAC store: the authorization port the pipeline calls, and the administration operations behind the
 * `rbac` platform contract. Every operation takes the org explicitly; the admin handlers pass the verified
 * principal's, so no operation can reach another tenant's roles or bindings.
 */
export interface RbacStore extends AuthorizationPort {
  check(request: AuthorizationRequest): Promise<AuthorizationDecision>;
  /** Adds capabilities to the catalogue (from the contracts' manifest, or registered by hand). Idempotent. */
  registerCapabilities(names: Iterable<string>, source: 'contract' | 'registered'): Promise<void>;
  capabilities(): Promise<ReadonlyArray<string>>;
  listRoles(org: string): Promise<ReadonlyArray<Role>>;
  createRole(actor: RbacActor, org: string, role: NewRole, reason: string): Promise<Role>;
  updateRole(actor: RbacActor, org: string, roleId: string, changes: RoleChanges, reason: string): Promise<Role>;
  deleteRole(actor: RbacActor, org: string, roleId: string, reason: string): Promise<void>;
  listBindings(org: string, filter?: { readonly subject?: string }): Promise<ReadonlyArray<Binding>>;
  grant(actor: RbacActor, org: string, binding: NewBinding, reason: string): Promise<Binding>;
  revoke(actor: RbacActor, org: string, bindingId: string, reason: string): Promise<void>;
  changes(org: string, options?: { readonly limit?: number }): Promise<ReadonlyArray<ChangeRecord>>;
  /**
   * The explicit first-admin path for a new tenant: creates an `admin` role holding every capability in the
   * catalogue and binds `adminSubject` to it. Refused once the org has any role. Recorded like any change.
   */
  bootstrapTenant(operator: string, org: string, adminSubject: string, reason: string): Promise<{ role: Role; binding: Binding }>;
}

const NAME = /^[a-z][a-z0-9-]{0,63}$/;
const ID_TEXT = /^[A-Za-z0-9][A-Za-z0-9._:@-]{0,254}$/;
const RESOURCE_TYPE = /^[a-z][a-zA-Z0-9-]{0,63}$/;
const RESOURCE_ID = /^(\*|[A-Za-z0-9][A-Za-z0-9._:-]{0,127})$/;

interface CachedGrants {
  readonly grants: ReadonlyArray<Grant>;
  /** The earliest expiry among the loaded bindings: the set is stale from then on. */
  readonly validUntil: number;
}

/**
 * Creates the store. Decisions are cached per (org, policy epoch, subject, workspace): every change bumps
 * the org's epoch in the same transaction, and every check reads the current epoch first, so a check that
 * starts after a change commits never uses grants loaded before it, in this process or any other.
 *
 * @example
 * ```ts
 * const rbac = createRbacStore({ db });
 * await rbac.registerCapabilities(manifestCapabilities, 'contract');
 * const runtime = createCovenantRuntime({ identity, authorization: rbac, audit });
 * ```
 */
export function createRbacStore(options: RbacStoreOptions): RbacStore {
  const { db } = options;
  const clock = options.clock ?? (() => new Date());
  const ids = options.ids ?? randomUUID;
  const cacheSize = options.cacheSize ?? 10_000;
  const cache = new Map<string, CachedGrants>();

  const grantsFor = async (org: string, subject: string, workspace: string | null): Promise<ReadonlyArray<Grant>> => {
    const now = clock().getTime();
    const epoch = await readEpoch(db, org);
    const key = `${org}\u0000${epoch}\u0000${subject}\u0000${workspace ?? ''}`;
    const cached = cache.get(key);
    if (cached !== undefined && now < cached.validUntil) {
      // Refresh the entry's position: the map's insertion order is the eviction order.
      cache.delete(key);
      cache.set(key, cached);
      return cached.grants;
    }
    // The epoch and the rows are read in one transaction, so the entry is filed under the epoch its rows
    // belong to (a change committing in between would otherwise file new rows under an old epoch, or old
    // rows under … the old epoch: harmless, but the pairing keeps the invariant simple to state).
    const loaded = await db.transaction().execute(async (trx) => {
      const current = await readEpoch(trx, org);
      const rows = await trx
        .selectFrom('rbac_bindings as b')
        .innerJoin('rbac_roles as r', (join) => join.onRef('r.id', '=', 'b.role_id').onRef('r.org', '=', 'b.org'))
        .innerJoin('rbac_role_capabilities as rc', 'rc.role_id', 'r.id')
        .select(['b.id', 'b.effect', 'b.resource_type', 'b.resource_id', 'b.expires_at', 'rc.capability'])
        .where('b.org', '=', org)
        .where('b.subject', '=', subject)
        .where((eb) => (workspace === null ? eb('b.workspace', 'is', null) : eb.or([eb('b.workspace', 'is', null), eb('b.workspace', '=', workspace)])))
        .where((eb) => eb.or([eb('b.expires_at', 'is', null), eb('b.expires_at', '>', new Date(now).toISOString())]))
        .execute();
      return { epoch: current, rows };
    });
    let validUntil = Number.POSITIVE_INFINITY;
    const grants: Grant[] = loaded.rows.map((row) => {
      if (row.expires_at !== null) validUntil = Math.min(validUntil, Date.parse(row.expires_at));
      return {
        bindingId: row.id,
        capability: row.capability,
        effect: row.effect,
        resourceType: row.resource_type,
        resourceId: row.resource_id,
      };
    });
    if (cacheSize > 0) {
      cache.set(`${org}\u0000${loaded.epoch}\u0000${subject}\u0000${workspace ?? ''}`, { grants, validUntil });
      while (cache.size > cacheSize) cache.delete(cache.keys().next().value!);
    }
    return grants;
  };

  let catalogue: Set<string> | null = null;
  const knownCapabilities = async (): Promise<Set<string>> => {
    catalogue ??= new Set((await db.selectFrom('rbac_capabilities').select('name').execute()).map((r) => r.name));
    return catalogue;
  };

  const check = async ({ principal, capability, resource }: AuthorizationRequest): Promise<AuthorizationDecision> => {
    if (typeof capability !== 'string' || !isValidCapability(capability)) {
      return { allowed: false, code: 'rbac.invalid_capability', capability: String(capability), resource };
    }
    if (!(await knownCapabilities()).has(capability)) {
      return { allowed: false, code: 'rbac.unknown_capability', capability, resource };
    }
    const grants = await grantsFor(principal.tenant.org, principal.subject, principal.tenant.workspace);
    return evaluate(grants, capability, resource);
  };

  /** What `actor` may grant: the capabilities it holds itself in the scope of the change. */
  const missingCapabilities = async (
    actor: RbacActor,
    org: string,
    capabilities: ReadonlyArray<string>,
    scope: { workspace: string | null; resource: ResourceScope | null },
  ): Promise<string[]> => {
    if (actor.subject === null) return []; // the operator's bootstrap: there is no principal to bound it
    const grants = await grantsFor(org, actor.subject, scope.workspace);
    const resource = scope.resource === null ? null : { type: scope.resource.type, id: scope.resource.id === '*' ? null : scope.resource.id };
    return capabilities.filter((capability) => {
      // Granting on every resource of a type needs the capability tenant-wide or on the whole type.
      const decision = evaluate(grants, capability, resource);
      if (!decision.allowed) return true;
      if (scope.resource?.id === '*') {
        return !grants.some(
          (g) => g.capability === capability && g.effect === 'allow' && (g.resourceType === null || (g.resourceType === scope.resource!.type && g.resourceId === '*')),
        );
      }
      return false;
    });
  };

  const refuse = async (actor: RbacActor, org: string, action: string, reason: string, attempted: unknown, missing: string[]): Promise<never> => {
    await db
      .insertInto('rbac_changes')
      .values(changeRow(actor, org, action, 'refused', reason, null, { attempted, missing }, clock()))
      .execute();
    throw new EscalationRefusedError(missing);
  };

  const validateCapabilities = async (capabilities: ReadonlyArray<string>): Promise<string[]> => {
    if (!Array.isArray(capabilities)) throw new TypeError('capabilities must be an array');
    const known = await knownCapabilities();
    const unique = [...new Set(capabilities)].sort();
    const unknown = unique.filter((c) => typeof c !== 'string' || !isValidCapability(c) || !known.has(c));
    if (unknown.length > 0) throw new RbacChangeError('UNKNOWN_CAPABILITY', `unknown capabilities: ${unknown.join(', ')}`);
    return unique;
  };

  const loadRole = async (trx: Kysely<RbacTables>, org: string, roleId: string): Promise<Role | undefined> => {
    const row = await trx.selectFrom('rbac_roles').selectAll().where('org', '=', org).where('id', '=', roleId).executeTakeFirst();
    if (row === undefined) return undefined;
    const capabilities = await trx.selectFrom('rbac_role_capabilities').select('capability').where('role_id', '=', roleId).orderBy('capability').execute();
    return toRole(row, capabilities.map((c) => c.capability));
  };

  /** Runs a change in one transaction with its record and the epoch bump: all of it commits, or none. */
  const change = async <T>(
    actor: RbacActor,
    org: string,
    action: string,
    reason: string,
    apply: (trx: Transaction<RbacTables>) => Promise<{ result: T; before: unknown; after: unknown }>,
  ): Promise<T> => {
    requireReason(reason);
    return db.transaction().execute(async (trx) => {
      const { result, before, after } = await apply(trx);
      await trx
        .insertInto('rbac_epochs')
        .values({ org, epoch: 1 })
        .onConflict((oc) => oc.column('org').doUpdateSet((eb) => ({ epoch: eb('rbac_epochs.epoch', '+', 1) })))
        .execute();
      await trx.insertInto('rbac_changes').values(changeRow(actor, org, action, 'applied', reason, before, after, clock())).execute();
      return result;
    });
  };

  const store: RbacStore = {
    check,

    async registerCapabilities(names, source) {
      const list = [...new Set(names)].sort();
      const invalid = list.filter((name) => typeof name !== 'string' || !isValidCapability(name));
      if (invalid.length > 0) throw new TypeError(`invalid capability names: ${invalid.join(', ')}`);
      if (list.length === 0) return;
      await db
        .insertInto('rbac_capabilities')
        .values(list.map((name) => ({ name, source, description: null })))
        .onConflict((oc) => oc.column('name').doNothing())
        .execute();
      catalogue = null;
    },

    async capabilities() {
      return [...(await knownCapabilities())].sort();
    },

    async listRoles(org) {
      const rows = await db.selectFrom('rbac_roles').selectAll().where('org', '=', org).orderBy('name').execute();
      const caps = await db
        .selectFrom('rbac_role_capabilities as rc')
        .innerJoin('rbac_roles as r', 'r.id', 'rc.role_id')
        .select(['rc.role_id', 'rc.capability'])
        .where('r.org', '=', org)
        .orderBy('rc.capability')
        .execute();
      return rows.map((row) => toRole(row, caps.filter((c) => c.role_id === row.id).map((c) => c.capability)));
    },

    async createRole(actor, org, role, reason) {
      if (typeof role?.name !== 'string' || !NAME.test(role.name)) {
        throw new RbacChangeError('INVALID_BINDING', 'a role name is lower-case letters, digits and dashes, starting with a letter');
      }
      const capabilities = await validateCapabilities(role.capabilities);
      const missing = await missingCapabilities(actor, org, capabilities, { workspace: null, resource: null });
      if (missing.length > 0) return refuse(actor, org, 'roles.create', reason, { name: role.name, capabilities }, missing);
      return change(actor, org, 'roles.create', reason, async (trx) => {
        const existing = await trx.selectFrom('rbac_roles').select('id').where('org', '=', org).where('name', '=', role.name).executeTakeFirst();
        if (existing !== undefined) throw new RbacChangeError('ROLE_EXISTS', `a role named "${role.name}" exists in this org`);
        const created: Role = { id: `role_${ids()}`, name: role.name, description: role.description ?? null, capabilities, createdAt: clock().toISOString() };
        await trx.insertInto('rbac_roles').values({ id: created.id, org, name: created.name, description: created.description, created_at: created.createdAt }).execute();
        if (capabilities.length > 0) {
          await trx.insertInto('rbac_role_capabilities').values(capabilities.map((capability) => ({ role_id: created.id, capability }))).execute();
        }
        return { result: created, before: null, after: created };
      });
    },

    async updateRole(actor, org, roleId, changes, reason) {
      const current = await loadRole(db, org, roleId);
      if (current === undefined) throw new RbacChangeError('ROLE_NOT_FOUND', 'no such role in this org');
      const capabilities = changes.capabilities === undefined ? current.capabilities : await validateCapabilities(changes.capabilities);
      // Adding a capability to a role grants it to everyone bound to the role: the actor must hold it.
      const added = capabilities.filter((c) => !current.capabilities.includes(c));
      const missing = await missingCapabilities(actor, org, added, { workspace: null, resource: null });
      if (missing.length > 0) return refuse(actor, org, 'roles.update', reason, { roleId, capabilities }, missing);
      return change(actor, org, 'roles.update', reason, async (trx) => {
        const before = await loadRole(trx, org, roleId);
        if (before === undefined) throw new RbacChangeError('ROLE_NOT_FOUND', 'no such role in this org');
        const description = changes.description === undefined ? before.description : changes.description;
        await trx.updateTable('rbac_roles').set({ description }).where('org', '=', org).where('id', '=', roleId).execute();
        await trx.deleteFrom('rbac_role_capabilities').where('role_id', '=', roleId).execute();
        if (capabilities.length > 0) {
          await trx.insertInto('rbac_role_capabilities').values(capabilities.map((capability) => ({ role_id: roleId, capability }))).execute();
        }
        const after: Role = { ...before, description, capabilities };
        return { result: after, before, after };
      });
    },

    async deleteRole(actor, org, roleId, reason) {
      await change(actor, org, 'roles.delete', reason, async (trx) => {
        const before = await loadRole(trx, org, roleId);
        if (before === undefined) throw new RbacChangeError('ROLE_NOT_FOUND', 'no such role in this org');
        const bindings = await trx.selectFrom('rbac_bindings').selectAll().where('org', '=', org).where('role_id', '=', roleId).execute();
        await trx.deleteFrom('rbac_roles').where('org', '=', org).where('id', '=', roleId).execute();
        return { result: undefined, before: { role: before, bindings: bindings.map(toBinding) }, after: null };
      });
    },

    async listBindings(org, filter = {}) {
      let query = db.selectFrom('rbac_bindings').selectAll().where('org', '=', org);
      if (filter.subject !== undefined) query = query.where('subject', '=', filter.subject);
      return (await query.orderBy('created_at').orderBy('id').execute()).map(toBinding);
    },

    async grant(actor, org, binding, reason) {
      const effect = binding.effect ?? 'allow';
      const workspace = binding.workspace ?? null;
      const resource = binding.resource ?? null;
      validateBinding(binding, effect, workspace, resource);
      const role = await loadRole(db, org, binding.roleId);
      if (role === undefined) throw new RbacChangeError('ROLE_NOT_FOUND', 'no such role in this org');
      if (effect === 'allow') {
        const missing = await missingCapabilities(actor, org, role.capabilities, { workspace, resource });
        if (missing.length > 0) {
          return refuse(actor, org, 'bindings.grant', reason, { subject: binding.subject, roleId: role.id, workspace, resource }, missing);
        }
      }
      return change(actor, org, 'bindings.grant', reason, async (trx) => {
        if ((await loadRole(trx, org, binding.roleId)) === undefined) throw new RbacChangeError('ROLE_NOT_FOUND', 'no such role in this org');
        const created: Binding = {
          id: `bind_${ids()}`,
          subject: binding.subject,
          roleId: role.id,
          effect,
          workspace,
          resource,
          expiresAt: binding.expiresAt ? binding.expiresAt.toISOString() : null,
          createdAt: clock().toISOString(),
          createdBy: actor.id,
        };
        await trx
          .insertInto('rbac_bindings')
          .values({
            id: created.id,
            org,
            workspace,
            subject: created.subject,
            role_id: created.roleId,
            effect,
            resource_type: resource?.type ?? null,
            resource_id: resource?.id ?? null,
            expires_at: created.expiresAt,
            created_at: created.createdAt,
            created_by: created.createdBy,
          })
          .execute();
        return { result: created, before: null, after: created };
      });
    },

    async revoke(actor, org, bindingId, reason) {
      await change(actor, org, 'bindings.revoke', reason, async (trx) => {
        const row = await trx.selectFrom('rbac_bindings').selectAll().where('org', '=', org).where('id', '=', bindingId).executeTakeFirst();
        if (row === undefined) throw new RbacChangeError('BINDING_NOT_FOUND', 'no such binding in this org');
        await trx.deleteFrom('rbac_bindings').where('org', '=', org).where('id', '=', bindingId).execute();
        return { result: undefined, before: toBinding(row), after: null };
      });
    },

    async changes(org, { limit = 100 } = {}) {
      const rows = await db
        .selectFrom('rbac_changes')
        .selectAll()
        .where('org', '=', org)
        .orderBy('seq', 'desc')
        .limit(Math.max(1, Math.min(limit, 1000)))
        .execute();
      return rows.map((row) => ({
        seq: row.seq,
        actor: row.actor,
        action: row.action,
        outcome: row.outcome,
        reason: row.reason,
        before: row.before === null ? null : JSON.parse(row.before),
        after: row.after === null ? null : JSON.parse(row.after),
        requestId: row.request_id,
        at: row.at,
      }));
    },

    async bootstrapTenant(operator, org, adminSubject, reason) {
      if (!ID_TEXT.test(org) || !ID_TEXT.test(adminSubject)) throw new TypeError('bootstrapTenant: org and subject must be identifiers');
      if (typeof operator !== 'string' || operator.trim() === '') throw new TypeError('bootstrapTenant: name the operator');
      const actor: RbacActor = { id: `operator:${operator}`, subject: null, requestId: null };
      const capabilities = [...(await knownCapabilities())].sort();
      return change(actor, org, 'tenant.bootstrap', reason, async (trx) => {
        const existing = await trx.selectFrom('rbac_roles').select('id').where('org', '=', org).limit(1).executeTakeFirst();
        if (existing !== undefined) {
          throw new RbacChangeError('TENANT_ALREADY_BOOTSTRAPPED', 'this org already has roles: grant admin through the rbac API instead');
        }
        const at = clock().toISOString();
        const role: Role = { id: `role_${ids()}`, name: 'admin', description: 'First administrator (bootstrap)', capabilities, createdAt: at };
        await trx.insertInto('rbac_roles').values({ id: role.id, org, name: role.name, description: role.description, created_at: at }).execute();
        if (capabilities.length > 0) {
          await trx.insertInto('rbac_role_capabilities').values(capabilities.map((capability) => ({ role_id: role.id, capability }))).execute();
        }
        const binding: Binding = {
          id: `bind_${ids()}`,
          subject: adminSubject,
          roleId: role.id,
          effect: 'allow',
          workspace: null,
          resource: null,
          expiresAt: null,
          createdAt: at,
          createdBy: actor.id,
        };
        await trx
          .insertInto('rbac_bindings')
          .values({ id: binding.id, org, workspace: null, subject: adminSubject, role_id: role.id, effect: 'allow', resource_type: null, resource_id: null, expires_at: null, created_at: at, created_by: actor.id })
          .execute();
        return { result: { role, binding }, before: null, after: { role, binding } };
      });
    },
  };
  return store;
}

async function readEpoch(db: Kysely<RbacTables>, org: string): Promise<number> {
  const row = await db.selectFrom('rbac_epochs').select('epoch').where('org', '=', org).executeTakeFirst();
  return row?.epoch ?? 0;
}

function requireReason(reason: string): void {
  if (typeof reason !== 'string' || reason.trim().length < 3) throw new TypeError('every policy change needs a reason');
}

function validateBinding(binding: NewBinding, effect: string, workspace: string | null, resource: ResourceScope | null): void {
  const invalid = (message: string): never => {
    throw new RbacChangeError('INVALID_BINDING', message);
  };
  if (typeof binding.subject !== 'string' || !ID_TEXT.test(binding.subject)) invalid('the subject is not a valid identifier');
  if (effect !== 'allow' && effect !== 'deny') invalid('effect is allow or deny');
  if (workspace !== null && (typeof workspace !== 'string' || !ID_TEXT.test(workspace))) invalid('the workspace is not a valid identifier');
  if (resource !== null && (!RESOURCE_TYPE.test(String(resource.type)) || !RESOURCE_ID.test(String(resource.id)))) {
    invalid('a resource is { type, id } with id an identifier or "*"');
  }
  if (binding.expiresAt != null && !(binding.expiresAt instanceof Date && Number.isFinite(binding.expiresAt.getTime()))) {
    invalid('expiresAt must be a valid date');
  }
}

function changeRow(
  actor: RbacActor,
  org: string,
  action: string,
  outcome: 'applied' | 'refused',
  reason: string,
  before: unknown,
  after: unknown,
  at: Date,
) {
  return {
    org,
    actor: actor.id,
    action,
    outcome,
    reason,
    before: before === null ? null : JSON.stringify(before),
    after: after === null ? null : JSON.stringify(after),
    request_id: actor.requestId,
    at: at.toISOString(),
  };
}

function toRole(row: RbacTables['rbac_roles'], capabilities: string[]): Role {
  return { id: row.id, name: row.name, description: row.description, capabilities, createdAt: row.created_at };
}

function toBinding(row: RbacTables['rbac_bindings']): Binding {
  return {
    id: row.id,
    subject: row.subject,
    roleId: row.role_id,
    effect: row.effect,
    workspace: row.workspace,
    resource: row.resource_type === null ? null : { type: row.resource_type, id: row.resource_id! },
    expiresAt: row.expires_at,
    createdAt: row.created_at,
    createdBy: row.created_by,
  };
}
