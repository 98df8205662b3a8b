import { randomUUID } from 'node:crypto';
import { isValidCapability } from '@covenant/contract';
import { systemClock, type AuthorizationDecision, type AuthorizationPort, type AuthorizationRequest, type Clock } from '@covenant/core';
import { withSavepoint } from '@covenant/db';
import type { Compilable, CompiledQuery, Kysely } from 'kysely';
import { EscalationRefusedError, RbacChangeError, ScopeRefusedError } from './errors.ts';
import { administeredForGood, canManageForGood, managedScopes, manages, ungrantable, type ActorGrant, type GrantScope, type SubjectGrant } from './escalation.ts';
import { evaluate, type Grant } from './evaluate.ts';
import { GrantCache } from './grant-cache.ts';
import type { Binding, ChangeRecord, RbacActor, ResourceScope, Role } from './model.ts';
import type { RbacTables } from './tables.ts';

export interface RbacStoreOptions {
  readonly db: Kysely<RbacTables>;
  readonly clock?: Clock;
  readonly ids?: () => string;
  /** How many (org, subject, workspace) grant sets the decision cache keeps (default 10 000; 0 disables it). */
  readonly cacheSize?: number;
  /**
   * The capability that makes its holder a manager of bindings where it holds it (default
   * `rbac.bindings.manage`, what the `rbac` contract's binding procedures require): a grant, deny or revoke
   * is confined to the workspaces the actor manages with it (an org-wide binding: the whole org), and no
   * change may leave an org with nobody holding it org-wide for good.
   */
  readonly manageBindingsCapability?: string;
  /** The capability roles are managed with (default `rbac.roles.manage`): roles belong to the org, so only org-wide. */
  readonly manageRolesCapability?: string;
  /**
   * Called inside every change's transaction with its record, applied or refused (the service appends it
   * to the audit ledger there, so a change and its ledger entry commit together). If it throws, the change
   * rolls back.
   */
  readonly onChange?: (change: RbacChangeEvent, db: Kysely<RbacTables>) => void | Promise<void>;
  /**
   * Keeps the record of a refused change whatever happens to the transaction it was refused in. A refusal
   * fails the call it belongs to, so when the store is bound into the caller's transaction (`bind`: an
   * audited handler's `ctx.db`) that transaction rolls back, and a record written in it would go too.
   * `keepRefusal` receives `record`, which writes the `rbac_changes` row and calls `onChange` on the handle
   * it is given, and must run it in a transaction of its own once the caller's has ended: a bound store
   * does not wait for it (on SQLite the caller's transaction holds the only write lock until it ends), so
   * it reports its own failures. `recordChangesOn` runs it in the ledger's next batch: the row and its
   * `denial` entry commit together. Unbound, the store waits for it before throwing the refusal.
   * Without it, refusals are recorded in a transaction of the store's own (bound: in the caller's, kept
   * only if that commits).
   */
  readonly keepRefusal?: (record: (db: Kysely<RbacTables>) => Promise<void>) => void | Promise<void>;
}

/** A change as `onChange` receives it: the record `changes()` will list, with its org. */
export interface RbacChangeEvent extends Omit<ChangeRecord, 'seq'> {
  readonly org: string;
}

/** What `recoverTenant` did: the bootstrap role as restored, the admin's binding to it, the denies it lifted. */
export interface RecoveredTenant {
  readonly role: Role;
  readonly binding: Binding;
  readonly lifted: ReadonlyArray<Binding>;
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
  /**
   * The operator's path for capabilities declared after a tenant was bootstrapped: adds every catalogue
   * capability the org's bootstrap role lacks (no one in the org could grant them otherwise, since nobody
   * holds them). Recorded like any change; refused when the org was never bootstrapped or its bootstrap
   * role was deleted. Returns the capabilities added.
   */
  extendBootstrapRole(operator: string, org: string, reason: string): Promise<ReadonlyArray<string>>;
  /**
   * The operator's path for an org nobody can manage any more (no subject holds the managing capability
   * org-wide for good, e.g. after a data repair or a schema written behind the store's back): restores the
   * org's bootstrap role with every catalogue capability (recreating it if it was deleted), lifts every deny
   * binding of `adminSubject` (each is a hole in what it must hold to manage), and binds `adminSubject`
   * org-wide to the role. Recorded like any change (`tenant.recover`). Refused with
   * `TENANT_NOT_BOOTSTRAPPED` for an org never bootstrapped, and with `TENANT_NOT_LOCKED_OUT` while
   * someone can still manage it (then the rbac API is the path).
   */
  recoverTenant(operator: string, org: string, adminSubject: string, reason: string): Promise<RecoveredTenant>;
  /**
   * The same store on `db`, a handle already inside a transaction someone else owns (an audited handler's
   * `ctx.db`, a ledger unit of work): each change runs in a savepoint of it and commits — or rolls back —
   * with it; checks read through it and skip the shared cache (it may hold uncommitted changes).
   */
  bind(db: Kysely<RbacTables>): RbacStore;
}

const NAME = /^[a-z][a-z0-9-]{0,63}$/;
const ID_TEXT = /^[A-Za-z0-9][A-Za-z0-9._:@-]{0,254}$/;
const RESOURCE_TYPE = /^[a-z][a-zA-Z0-9-]{0,63}$/;
const RESOURCE_ID = /^(\*|[A-Za-z0-9][A-Za-z0-9._:-]{0,127})$/;
const MAX_EXPIRY = Date.UTC(10000, 0, 1);

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
  // Without an injected clock, `Date.now()`: no Date object per check.
  const injectedClock = options.clock;
  const clock = injectedClock ?? systemClock;
  const nowMs = injectedClock === undefined ? Date.now : () => injectedClock.now().getTime();
  const ids = options.ids ?? randomUUID;
  const cacheSize = options.cacheSize ?? 10_000;
  const cache = new GrantCache(cacheSize);
  const onChange = options.onChange;
  const keepRefusal = options.keepRefusal;
  const manageBindings = capabilityOption(options.manageBindingsCapability, 'manageBindingsCapability', 'rbac.bindings.manage');
  const manageRoles = capabilityOption(options.manageRolesCapability, 'manageRolesCapability', 'rbac.roles.manage');
  if (onChange !== undefined && typeof onChange !== 'function') throw new TypeError('createRbacStore: "onChange" must be a function');
  if (keepRefusal !== undefined && typeof keepRefusal !== 'function') throw new TypeError('createRbacStore: "keepRefusal" must be a function');

  /** One store per database handle: the pool's (`bound` false), or a transaction's (see `bind`). */
  const makeStore = (db: Kysely<RbacTables>, bound: boolean): RbacStore => {
    // The statements of every check, built and compiled once per store (kysely's build and compile are most
    // of its overhead on these small reads) and executed with each check's values. The epoch is still READ
    // on every check: only its SQL is reused. Compiled through `db`, so its plugins' transformQuery has run
    // on them (once, here); transformResult runs on every execution, as for any query.
    const statements = bound ? null : compileCheckStatements(db);

    const loadGrants = (conn: Kysely<RbacTables>, org: string, subject: string, workspace: string | null, now: number) =>
      statements === null ? loadGrantsWith(grantRows(conn, org, subject, workspace, now)) : loadGrantsWith(statements.grants(conn, org, subject, workspace, now));

    /** Loads (and caches) the grants after a miss: the epoch and the rows read in one transaction. */
    const loadAndCache = async (org: string, subject: string, workspace: string | null, now: number): Promise<ReadonlyArray<Grant>> => {
      // The epoch and the rows are read in one transaction, so an entry is always filed under the epoch its
      // rows belong to, even when a change commits between the first epoch read and the load. (Repeatable
      // read makes that one snapshot on PostgreSQL; SQLite's read transaction is one already and ignores it.)
      const loaded = await db.transaction().setIsolationLevel('repeatable read').execute(async (trx) => ({
        epoch: statements === null ? await readEpoch(trx, org) : await statements.readEpoch(trx, org),
        ...(await loadGrants(trx, org, subject, workspace, now)),
      }));
      cache.set(org, loaded.epoch, subject, workspace, loaded.grants, loaded.validUntil);
      return loaded.grants;
    };

    let catalogue: Set<string> | null = null;
    const knownCapabilities = async (): Promise<Set<string>> => {
      catalogue ??= new Set((await db.selectFrom('rbac_capabilities').select('name').execute()).map((r) => r.name));
      return catalogue;
    };

    /**
     * The authorization decision. The cached path is one await (the epoch read, which every check makes:
     * a check that starts after a change commits must see its epoch) and one map lookup; the catalogue is
     * awaited only until it is loaded.
     */
    const check = async ({ principal, capability, resource }: AuthorizationRequest): Promise<AuthorizationDecision> => {
      if (typeof capability !== 'string' || !isValidCapability(capability)) {
        return { kind: 'authorization', allowed: false, code: 'authz.invalid_capability', capability: String(capability), resource };
      }
      if (!(catalogue ?? (await knownCapabilities())).has(capability)) {
        return { kind: 'authorization', allowed: false, code: 'authz.unknown_capability', capability, resource };
      }
      const org = principal.tenant.org;
      const subject = principal.subject;
      const workspace = principal.tenant.workspace;
      const now = nowMs();
      // Inside someone's transaction the rows may be uncommitted: never cache them.
      if (statements === null) return evaluate((await loadGrants(db, org, subject, workspace, now)).grants, capability, resource);
      // The one query of a cached check, inlined (no extra async layer): executing the precompiled statement.
      const epochStatement = statements.epoch;
      const epoch = epochStatement === null ? await readEpoch(db, org) : ((await db.executeQuery(epochStatement([org]))).rows[0]?.epoch ?? 0);
      const cached = cache.get(org, epoch, subject, workspace, now);
      return evaluate(cached ?? (await loadAndCache(org, subject, workspace, now)), capability, resource);
    };

    /**
     * What the actor may do in one change, judged on its grants read inside the change's own transaction
     * (once per change, never from the cache, so a right revoked a moment earlier cannot be used). Every
     * method throws a `Refusal` (recorded by `change` after the rollback) when the change oversteps.
     */
    const guardOf = (trx: Kysely<RbacTables>, actor: RbacActor, org: string) => {
      let loaded: Promise<ActorGrant[]> | null = null;
      // The actor's, in every workspace: a deny in any of them is a hole an org-wide grant would paper over.
      const actorGrants = (subject: string): Promise<ActorGrant[]> =>
        (loaded ??= grantRows(trx, org, subject, 'every', nowMs()).then((rows) => rows.map(actorGrant)));
      const guard = {
        /**
         * The actor manages `workspace` (`null`: the whole org) with `capability`: it holds it there (see
         * `manages`) and its session is not bound to another workspace (a workspace-bound session never
         * reaches the whole org). The operator's paths have no principal and no such bound.
         */
        async manages(capability: string, workspace: string | null, attempted: unknown): Promise<void> {
          if (actor.subject === null) return;
          const inSession = actor.workspace === null || actor.workspace === workspace;
          if (!inSession || !manages(await actorGrants(actor.subject), capability, workspace, nowMs())) {
            throw new Refusal({ attempted, code: 'ERR_RBAC_SCOPE_REFUSED', missing: [capability] }, new ScopeRefusedError(capability, workspace));
          }
        },
        /** The actor holds every one of `capabilities` wherever `scope` reaches, for as long (see `ungrantable`). */
        async holds(capabilities: ReadonlyArray<string>, scope: GrantScope, attempted: unknown): Promise<void> {
          if (actor.subject === null || capabilities.length === 0) return; // the operator's bootstrap has no principal
          const missing = ungrantable(await actorGrants(actor.subject), capabilities, scope);
          if (missing.length > 0) throw new Refusal({ attempted, missing }, new EscalationRefusedError(missing));
        },
        /**
         * The actor manages every scope `subject` manages (bindings and roles alike): a deny takes rights away
         * from its subject, and one who manages more than the actor must not lose them to it. Otherwise a
         * manager of one workspace could deny the org's admin a role there — a hole that blocks every org-wide
         * grant of its capabilities (`ungrantable`) and that the admin, lacking them there, could not lift.
         */
        async outranks(subject: string, attempted: unknown): Promise<void> {
          if (actor.subject === null || subject === actor.subject) return;
          const theirs = (await grantRows(trx, org, subject, 'every', nowMs())).map(actorGrant);
          for (const capability of [manageBindings, manageRoles]) {
            for (const workspace of managedScopes(theirs, capability, nowMs())) await guard.manages(capability, workspace, attempted);
          }
        },
        /**
         * After the change, someone can still manage the org's bindings (see `manageable`): checked for every
         * change that takes rights away (a revoke of an allow, a deny, a role losing capabilities or deleted).
         */
        async keepsManageable(attempted: unknown): Promise<void> {
          if (!(await manageable(trx, org))) {
            throw new Refusal(
              { attempted, code: 'ORG_UNMANAGEABLE' },
              new RbacChangeError('ORG_UNMANAGEABLE', 'the change would leave the org with nobody able to manage its bindings'),
            );
          }
        },
      };
      return guard;
    };

    /**
     * Whether some subject of the org holds the binding-managing capability org-wide, unexpired and not
     * expiring, with no deny of it anywhere (`canManageForGood`). Vacuously true when the catalogue lacks
     * the capability: then nobody can manage bindings through the API at all, and no change can make it worse.
     */
    const manageable = async (trx: Kysely<RbacTables>, org: string): Promise<boolean> => {
      if (!(await knownCapabilities()).has(manageBindings)) return true;
      return canManageForGood(await orgGrants(trx, org, manageBindings), manageBindings);
    };

    /** Whether some subject holds every one of `capabilities` org-wide, for good, without a deny (see `administeredForGood`). */
    const fullyAdministered = async (trx: Kysely<RbacTables>, org: string, capabilities: ReadonlyArray<string>): Promise<boolean> =>
      administeredForGood(await orgGrants(trx, org), capabilities);

    /** Every unexpired grant of the org, by subject (of `capability` only, when given). */
    const orgGrants = async (trx: Kysely<RbacTables>, org: string, capability?: string): Promise<SubjectGrant[]> => {
      const at = new Date(nowMs()).toISOString();
      let query = trx
        .selectFrom('rbac_bindings as b')
        .innerJoin('rbac_roles as r', (join) => join.onRef('r.id', '=', 'b.role_id').onRef('r.org', '=', 'b.org'))
        .innerJoin('rbac_role_capabilities as rc', 'rc.role_id', 'r.id')
        .select(['b.id', 'b.subject', 'b.effect', 'b.workspace', 'b.resource_type', 'b.resource_id', 'b.expires_at', 'rc.capability'])
        .where('b.org', '=', org)
        .where((eb) => eb.or([eb('b.expires_at', 'is', null), eb('b.expires_at', '>', at)]));
      if (capability !== undefined) query = query.where('rc.capability', '=', capability);
      return (await query.execute()).map((row) => ({ ...actorGrant(row), subject: row.subject }));
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

    /**
     * A transaction of our own, or a savepoint of the one `db` is bound into. On PostgreSQL our own is
     * repeatable read: the escalation check reads one snapshot, and two changes to one org both bump its
     * epoch row, so the later one fails (could not serialize) instead of acting on grants revoked
     * meanwhile — as SQLite refuses a read transaction's late write (SQLITE_BUSY_SNAPSHOT). SQLite ignores
     * the level.
     */
    const atomically = <T>(work: (trx: Kysely<RbacTables>) => Promise<T>): Promise<T> =>
      bound ? withSavepoint(db, work) : db.transaction().setIsolationLevel('repeatable read').execute(work);

    /**
     * Runs a change in one transaction with its record and the epoch bump: all of it commits, or none. A
     * refusal rolls the change back and is then recorded on its own (`recordRefusal`), so refused attempts
     * stay on file.
     */
    const change = async <T>(
      actor: RbacActor,
      org: string,
      action: string,
      reason: string,
      apply: (trx: Kysely<RbacTables>, guard: ReturnType<typeof guardOf>) => Promise<{ result: T; before: unknown; after: unknown }>,
    ): Promise<T> => {
      requireReason(reason);
      try {
        return await atomically(async (trx) => {
          const { result, before, after } = await apply(trx, guardOf(trx, actor, org));
          await trx
            .insertInto('rbac_epochs')
            .values({ org, epoch: 1 })
            .onConflict((oc) => oc.column('org').doUpdateSet((eb) => ({ epoch: eb('rbac_epochs.epoch', '+', 1) })))
            .execute();
          const row = changeRow(actor, org, action, 'applied', reason, before, after, clock.now());
          await trx.insertInto('rbac_changes').values(row).execute();
          await onChange?.(changeEvent(row, before, after), trx);
          return result;
        });
      } catch (error) {
        if (!(error instanceof Refusal)) throw error;
        await recordRefusal(changeRow(actor, org, action, 'refused', reason, null, error.record, clock.now()), error.record);
        throw error.error;
      }
    };

    /**
     * Records a refused change after its rollback. With `keepRefusal`, in a transaction of the hook's own,
     * which outlives the caller's (bound: not waited for, see `keepRefusal`); without it, in our own
     * (bound: a savepoint of the caller's transaction, kept only if that commits).
     */
    const recordRefusal = async (row: ReturnType<typeof changeRow>, record: unknown): Promise<void> => {
      const write = async (trx: Kysely<RbacTables>): Promise<void> => {
        await trx.insertInto('rbac_changes').values(row).execute();
        await onChange?.(changeEvent(row, null, record), trx);
      };
      if (keepRefusal === undefined) return atomically(write);
      const kept = keepRefusal(write);
      if (!bound) return kept;
      // The caller's transaction is still open: waiting here for a write that can only start once it has
      // ended would deadlock. The hook reports its own failures; nothing is left unhandled.
      Promise.resolve(kept).catch(() => undefined);
    };

    const store: RbacStore = {
      check,

      bind(trx) {
        if (trx === null || typeof trx !== 'object' || typeof trx.selectFrom !== 'function') throw new TypeError('bind: pass a kysely handle');
        return makeStore(trx, true);
      },

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
          throw new RbacChangeError('INVALID_ROLE', 'a role name is lower-case letters, digits and dashes, starting with a letter');
        }
        const capabilities = await validateCapabilities(role.capabilities);
        return change(actor, org, 'roles.create', reason, async (trx, guard) => {
          const attempted = { name: role.name, capabilities };
          // Roles belong to the org: creating one needs the org-wide managing scope too, though a new role
          // binds nobody. Its name is taken org-wide, it shows in every workspace's role list, and the next
          // grant anywhere may use it; a workspace-bound actor alters nothing outside its workspace.
          await guard.manages(manageRoles, null, attempted);
          await guard.holds(capabilities, ORG_WIDE, attempted);
          const existing = await trx.selectFrom('rbac_roles').select('id').where('org', '=', org).where('name', '=', role.name).executeTakeFirst();
          if (existing !== undefined) throw new RbacChangeError('ROLE_EXISTS', `a role named "${role.name}" exists in this org`);
          const created: Role = { id: `role_${ids()}`, name: role.name, description: role.description ?? null, capabilities, createdAt: clock.now().toISOString() };
          await trx.insertInto('rbac_roles').values({ id: created.id, org, name: created.name, description: created.description, created_at: created.createdAt }).execute();
          await insertCapabilities(trx, created.id, capabilities);
          return { result: created, before: null, after: created };
        });
      },

      async updateRole(actor, org, roleId, changes, reason) {
        const requested = changes.capabilities === undefined ? undefined : await validateCapabilities(changes.capabilities);
        return change(actor, org, 'roles.update', reason, async (trx, guard) => {
          await guard.manages(manageRoles, null, { roleId, capabilities: requested });
          const before = await loadRole(trx, org, roleId);
          if (before === undefined) throw new RbacChangeError('ROLE_NOT_FOUND', 'no such role in this org');
          const capabilities = requested ?? before.capabilities;
          const attempted = { roleId, capabilities };
          // Adding a capability grants it to everyone bound to the role (and denies it to everyone the role
          // denies); removing one from a role used in deny bindings gives it back to everyone denied. Either
          // way the actor must hold what it hands out, or takes power over.
          const added = capabilities.filter((c) => !before.capabilities.includes(c));
          const removed = before.capabilities.filter((c) => !capabilities.includes(c));
          const lifted = (await hasDenyBindings(trx, org, roleId)) ? removed : [];
          await guard.holds([...added, ...lifted], ORG_WIDE, attempted);
          const description = changes.description === undefined ? before.description : changes.description;
          await trx.updateTable('rbac_roles').set({ description }).where('org', '=', org).where('id', '=', roleId).execute();
          await trx.deleteFrom('rbac_role_capabilities').where('role_id', '=', roleId).execute();
          await insertCapabilities(trx, roleId, capabilities);
          if (removed.length > 0) await guard.keepsManageable(attempted);
          const after: Role = { ...before, description, capabilities };
          return { result: after, before, after };
        });
      },

      async deleteRole(actor, org, roleId, reason) {
        await change(actor, org, 'roles.delete', reason, async (trx, guard) => {
          await guard.manages(manageRoles, null, { roleId });
          const before = await loadRole(trx, org, roleId);
          if (before === undefined) throw new RbacChangeError('ROLE_NOT_FOUND', 'no such role in this org');
          // Deleting a role drops its deny bindings too, which gives the denied capabilities back.
          if (await hasDenyBindings(trx, org, roleId)) await guard.holds(before.capabilities, ORG_WIDE, { roleId });
          const bindings = await trx.selectFrom('rbac_bindings').selectAll().where('org', '=', org).where('role_id', '=', roleId).execute();
          await trx.deleteFrom('rbac_roles').where('org', '=', org).where('id', '=', roleId).execute();
          await guard.keepsManageable({ roleId });
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
        return change(actor, org, 'bindings.grant', reason, async (trx, guard) => {
          const expiresAt = binding.expiresAt ? binding.expiresAt.getTime() : null;
          const attempted = { subject: binding.subject, roleId: binding.roleId, workspace, resource, expiresAt: binding.expiresAt ?? null };
          await guard.manages(manageBindings, workspace, attempted);
          const role = await loadRole(trx, org, binding.roleId);
          if (role === undefined) throw new RbacChangeError('ROLE_NOT_FOUND', 'no such role in this org');
          // A deny is power over the denied, as an allow is power for the allowed: either needs what an allow
          // of the role in that scope needs. (Otherwise a binding manager could deny every admin their admin
          // role, and nobody holding it could lift the deny.)
          await guard.holds(role.capabilities, { workspace, resource, expiresAt }, attempted);
          if (effect === 'deny') await guard.outranks(binding.subject, attempted);
          const created: Binding = {
            id: `bind_${ids()}`,
            subject: binding.subject,
            roleId: role.id,
            effect,
            workspace,
            resource,
            expiresAt: binding.expiresAt ? binding.expiresAt.toISOString() : null,
            createdAt: clock.now().toISOString(),
            createdBy: actor.id,
          };
          await insertBinding(trx, org, created);
          if (effect === 'deny') await guard.keepsManageable(attempted);
          return { result: created, before: null, after: created };
        });
      },

      async revoke(actor, org, bindingId, reason) {
        await change(actor, org, 'bindings.revoke', reason, async (trx, guard) => {
          const row = await trx.selectFrom('rbac_bindings').selectAll().where('org', '=', org).where('id', '=', bindingId).executeTakeFirst();
          if (row === undefined) throw new RbacChangeError('BINDING_NOT_FOUND', 'no such binding in this org');
          const before = toBinding(row);
          await guard.manages(manageBindings, before.workspace, { bindingId });
          if (before.effect === 'deny') {
            // Lifting a deny gives its capabilities back: the actor must hold them in the binding's scope.
            const role = await loadRole(trx, org, before.roleId);
            const scope = { workspace: before.workspace, resource: before.resource, expiresAt: null };
            await guard.holds(role?.capabilities ?? [], scope, { bindingId });
          }
          await trx.deleteFrom('rbac_bindings').where('org', '=', org).where('id', '=', bindingId).execute();
          if (before.effect === 'allow') await guard.keepsManageable({ bindingId });
          return { result: undefined, before, after: null };
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
        const actor = operatorActor(operator);
        const capabilities = [...(await knownCapabilities())].sort();
        return change(actor, org, 'tenant.bootstrap', reason, async (trx) => {
          const existing = await trx.selectFrom('rbac_roles').select('id').where('org', '=', org).limit(1).executeTakeFirst();
          if (existing !== undefined) {
            throw new RbacChangeError('TENANT_ALREADY_BOOTSTRAPPED', 'this org already has roles: grant admin through the rbac API instead');
          }
          const role = await insertRole(trx, org, { id: `role_${ids()}`, name: 'admin', description: BOOTSTRAP_DESCRIPTION, capabilities, createdAt: clock.now().toISOString() });
          const binding = orgWideAllow(`bind_${ids()}`, adminSubject, role.id, role.createdAt, actor);
          await insertBinding(trx, org, binding);
          return { result: { role, binding }, before: null, after: { role, binding } };
        });
      },

      async extendBootstrapRole(operator, org, reason) {
        const actor = operatorActor(operator);
        const catalogue = [...(await knownCapabilities())].sort();
        return change(actor, org, 'tenant.extend_bootstrap_role', reason, async (trx) => {
          const roleId = await bootstrapRoleId(trx, org);
          if (roleId === undefined) throw new RbacChangeError('ROLE_NOT_FOUND', 'this org was never bootstrapped');
          const before = await loadRole(trx, org, roleId);
          if (before === undefined) throw new RbacChangeError('ROLE_NOT_FOUND', "the org's bootstrap role was deleted");
          const added = catalogue.filter((capability) => !before.capabilities.includes(capability));
          await insertCapabilities(trx, roleId, added);
          const after: Role = { ...before, capabilities: [...before.capabilities, ...added].sort() };
          return { result: added, before, after };
        });
      },

      async recoverTenant(operator, org, adminSubject, reason) {
        if (!ID_TEXT.test(org) || !ID_TEXT.test(adminSubject)) throw new TypeError('recoverTenant: org and subject must be identifiers');
        const actor = operatorActor(operator);
        const known = await knownCapabilities();
        if (!known.has(manageBindings)) {
          // Recovery restores a binding manager; without the capability in the catalogue there is none to restore.
          throw new RbacChangeError('UNKNOWN_CAPABILITY', `${manageBindings} is not in the catalogue: no contract declares it`);
        }
        const catalogue = [...known].sort();
        return change(actor, org, 'tenant.recover', reason, async (trx) => {
          const roleId = await bootstrapRoleId(trx, org);
          if (roleId === undefined) throw new RbacChangeError('TENANT_NOT_BOOTSTRAPPED', 'this org was never bootstrapped: bootstrap it instead');
          // Locked out: nobody holds every capability of the catalogue org-wide for good (a deny anywhere, on
          // any capability, is a hole in what an admin must hold to grant it and to lift other denies).
          if (await fullyAdministered(trx, org, catalogue)) {
            throw new RbacChangeError('TENANT_NOT_LOCKED_OUT', 'someone in this org holds every capability org-wide: grant through the rbac API instead');
          }
          const at = clock.now().toISOString();
          const before = (await loadRole(trx, org, roleId)) ?? null;
          let role: Role;
          if (before === null) {
            // Deleted: recreated under its name, or a free variant of it if another role took the name since.
            const taken = new Set((await trx.selectFrom('rbac_roles').select('name').where('org', '=', org).execute()).map((r) => r.name));
            const name = ['admin', 'admin-recovered', ...Array.from({ length: 98 }, (_, i) => `admin-recovered-${i + 2}`)].find((n) => !taken.has(n));
            if (name === undefined) throw new RbacChangeError('ROLE_EXISTS', 'no free name for the recovered admin role');
            role = await insertRole(trx, org, { id: `role_${ids()}`, name, description: BOOTSTRAP_DESCRIPTION, capabilities: catalogue, createdAt: at });
          } else {
            const added = catalogue.filter((capability) => !before.capabilities.includes(capability));
            await insertCapabilities(trx, roleId, added);
            role = { ...before, capabilities: [...before.capabilities, ...added].sort() };
          }
          // Every deny of the admin is a hole in what it must hold to manage (and to lift other denies).
          const denies = (
            await trx.selectFrom('rbac_bindings').selectAll().where('org', '=', org).where('subject', '=', adminSubject).where('effect', '=', 'deny').orderBy('id').execute()
          ).map(toBinding);
          if (denies.length > 0) await trx.deleteFrom('rbac_bindings').where('id', 'in', denies.map((d) => d.id)).execute();
          const held = await trx
            .selectFrom('rbac_bindings')
            .selectAll()
            .where('org', '=', org)
            .where('subject', '=', adminSubject)
            .where('role_id', '=', role.id)
            .where('effect', '=', 'allow')
            .where('workspace', 'is', null)
            .where('resource_type', 'is', null)
            .where('expires_at', 'is', null)
            .executeTakeFirst();
          let binding: Binding;
          if (held !== undefined) binding = toBinding(held);
          else {
            binding = orgWideAllow(`bind_${ids()}`, adminSubject, role.id, at, actor);
            await insertBinding(trx, org, binding);
          }
          return { result: { role, binding, lifted: denies }, before: { role: before, denies }, after: { role, binding } };
        });
      },
    };
    return store;
  };
  return makeStore(options.db, false);
}

function operatorActor(operator: string): RbacActor {
  if (typeof operator !== 'string' || !ID_TEXT.test(operator)) throw new TypeError('name the operator (an identifier)');
  return { id: `operator:${operator}`, subject: null, workspace: null, requestId: null };
}

const BOOTSTRAP_DESCRIPTION = 'First administrator (bootstrap)';

/** An option naming a capability, or its default; refused at creation when it is not a capability name. */
function capabilityOption(value: unknown, name: string, fallback: string): string {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || !isValidCapability(value)) throw new TypeError(`createRbacStore: "${name}" must be a capability name (e.g. "${fallback}")`);
  return value;
}

/** An `ActorGrant` from a grant row (expiry as milliseconds). */
function actorGrant(row: GrantRow): ActorGrant {
  return {
    capability: row.capability,
    effect: row.effect,
    workspace: row.workspace,
    resourceType: row.resource_type,
    resourceId: row.resource_id,
    expiresAt: row.expires_at === null ? null : Date.parse(row.expires_at),
  };
}

/**
 * The id of the org's bootstrap role: the role of its latest applied `tenant.bootstrap` or `tenant.recover`
 * (a recovery may have recreated it), or `undefined` for an org never bootstrapped.
 */
async function bootstrapRoleId(trx: Kysely<RbacTables>, org: string): Promise<string | undefined> {
  const row = await trx
    .selectFrom('rbac_changes')
    .select('after')
    .where('org', '=', org)
    .where('action', 'in', ['tenant.bootstrap', 'tenant.recover'])
    .where('outcome', '=', 'applied')
    .orderBy('seq', 'desc')
    .limit(1)
    .executeTakeFirst();
  return row?.after == null ? undefined : (JSON.parse(row.after) as { role: Role }).role.id;
}

async function insertRole(trx: Kysely<RbacTables>, org: string, role: Role): Promise<Role> {
  await trx.insertInto('rbac_roles').values({ id: role.id, org, name: role.name, description: role.description, created_at: role.createdAt }).execute();
  await insertCapabilities(trx, role.id, role.capabilities);
  return role;
}

/** The operator paths' admin binding: allow, org-wide, on no resource, without expiry. */
function orgWideAllow(id: string, subject: string, roleId: string, at: string, actor: RbacActor): Binding {
  return { id, subject, roleId, effect: 'allow', workspace: null, resource: null, expiresAt: null, createdAt: at, createdBy: actor.id };
}

const ORG_WIDE: GrantScope = Object.freeze({ workspace: null, resource: null, expiresAt: null });

/**
 * A refused change, carried out of the transaction so that `change` can roll back, record `record` (what
 * was attempted and why it was refused) and then throw `error`.
 */
class Refusal {
  constructor(
    readonly record: object,
    readonly error: Error,
  ) {}
}

/** One row of `grantRows`: one capability of one binding. */
type GrantRow = Pick<RbacTables['rbac_bindings'], 'id' | 'effect' | 'workspace' | 'resource_type' | 'resource_id' | 'expires_at'> &
  Pick<RbacTables['rbac_role_capabilities'], 'capability'>;

/** One subject's grants (from `grantRows`, unexpired at the time they were read at), and when the earliest expires. */
async function loadGrantsWith(rowsRead: Promise<ReadonlyArray<GrantRow>>): Promise<{ grants: Grant[]; validUntil: number }> {
  const rows = await rowsRead;
  let validUntil = Number.POSITIVE_INFINITY;
  const grants = rows.map((row): Grant => {
    if (row.expires_at !== null) validUntil = Math.min(validUntil, Date.parse(row.expires_at));
    return { bindingId: row.id, capability: row.capability, effect: row.effect, resourceType: row.resource_type, resourceId: row.resource_id };
  });
  return { grants, validUntil };
}

/** Placeholders the check statements are compiled with, replaced by each execution's values. */
const ORG = '\u0000covenant:org\u0000';
const SUBJECT = '\u0000covenant:subject\u0000';
const WORKSPACE = '\u0000covenant:workspace\u0000';
const NOW = '\u0000covenant:now\u0000';

/**
 * The statements every check runs, compiled once: the org's epoch, and a subject's grant rows (with and
 * without a workspace). Each is executed with `db.executeQuery`, on the pool or on a transaction of it,
 * so connection handling and plugins' transformResult are what kysely does for any query; only building
 * and compiling the statement are skipped. A statement whose parameters cannot be mapped back to its
 * placeholders (a plugin rewrote them) falls back to building the query per execution.
 */
function compileCheckStatements(db: Kysely<RbacTables>) {
  const epoch = precompile(db.selectFrom('rbac_epochs').select('epoch').where('org', '=', ORG), [ORG]);
  const inOrg = precompile(grantQuery(db, ORG, SUBJECT, null, NOW), [ORG, SUBJECT, NOW]);
  const inWorkspace = precompile(grantQuery(db, ORG, SUBJECT, WORKSPACE, NOW), [ORG, SUBJECT, WORKSPACE, NOW]);
  return {
    /** The epoch statement for an org (`null`: build it per read, see `readEpoch`). */
    epoch,
    async readEpoch(conn: Kysely<RbacTables>, org: string): Promise<number> {
      if (epoch === null) return readEpoch(conn, org);
      const { rows } = await conn.executeQuery(epoch([org]));
      return rows[0]?.epoch ?? 0;
    },
    async grants(conn: Kysely<RbacTables>, org: string, subject: string, workspace: string | null, now: number): Promise<ReadonlyArray<GrantRow>> {
      const at = new Date(now).toISOString();
      const statement = workspace === null ? inOrg?.([org, subject, at]) : inWorkspace?.([org, subject, workspace, at]);
      if (statement === undefined) return grantRows(conn, org, subject, workspace, now);
      return (await conn.executeQuery(statement)).rows;
    },
  };
}

/**
 * Compiles `query` once, with `placeholders` standing for its variable values (each must be one parameter
 * of the compiled statement), and returns a function giving the statement with real values in their place:
 * no build, no compile, one object and one array per execution. `null` when a placeholder is not exactly
 * one parameter (a plugin rewrote the statement): the caller builds the query each time instead.
 */
function precompile<R>(query: Compilable<R>, placeholders: ReadonlyArray<string>): ((values: ReadonlyArray<unknown>) => CompiledQuery<R>) | null {
  const compiled = query.compile();
  const parameters = compiled.parameters;
  const positions = placeholders.map((placeholder) => parameters.indexOf(placeholder));
  if (positions.some((at, i) => at < 0 || parameters.lastIndexOf(placeholders[i]) !== at)) return null;
  const { sql, query: node, queryId } = compiled;
  const identity = positions.every((at, i) => at === i) && parameters.length === placeholders.length;
  return (values) => {
    let bound: unknown[];
    if (identity) bound = values as unknown[];
    else {
      bound = parameters.slice();
      positions.forEach((at, i) => {
        bound[at] = values[i];
      });
    }
    return { sql, query: node, queryId, parameters: bound };
  };
}

/**
 * One row per (binding, capability) of a subject in an org, unexpired at `now`: bindings without a
 * workspace plus those of `workspace` (or of every workspace). Roles are joined on (org, id), so a binding
 * can only ever reach a role of its own org.
 */
function grantRows(db: Kysely<RbacTables>, org: string, subject: string, workspace: string | null | 'every', now: number): Promise<GrantRow[]> {
  return grantQuery(db, org, subject, workspace, new Date(now).toISOString()).execute();
}

/** The query behind `grantRows`, with the time as ISO text (stored expiries are compared as text). */
function grantQuery(db: Kysely<RbacTables>, org: string, subject: string, workspace: string | null | 'every', at: string) {
  return db
    .selectFrom('rbac_bindings as b')
    .innerJoin('rbac_roles as r', (join) => join.onRef('r.id', '=', 'b.role_id').onRef('r.org', '=', 'b.org'))
    .innerJoin('rbac_role_capabilities as rc', 'rc.role_id', 'r.id')
    .select(['b.id', 'b.effect', 'b.workspace', 'b.resource_type', 'b.resource_id', 'b.expires_at', 'rc.capability'])
    .where('b.org', '=', org)
    .where('b.subject', '=', subject)
    .where((eb) =>
      workspace === 'every'
        ? eb.lit(true)
        : workspace === null
          ? eb('b.workspace', 'is', null)
          : eb.or([eb('b.workspace', 'is', null), eb('b.workspace', '=', workspace)]),
    )
    .where((eb) => eb.or([eb('b.expires_at', 'is', null), eb('b.expires_at', '>', at)]));
}

async function insertCapabilities(trx: Kysely<RbacTables>, roleId: string, capabilities: ReadonlyArray<string>): Promise<void> {
  if (capabilities.length === 0) return;
  await trx.insertInto('rbac_role_capabilities').values(capabilities.map((capability) => ({ role_id: roleId, capability }))).execute();
}

async function insertBinding(trx: Kysely<RbacTables>, org: string, binding: Binding): Promise<void> {
  await trx
    .insertInto('rbac_bindings')
    .values({
      id: binding.id,
      org,
      workspace: binding.workspace,
      subject: binding.subject,
      role_id: binding.roleId,
      effect: binding.effect,
      resource_type: binding.resource?.type ?? null,
      resource_id: binding.resource?.id ?? null,
      expires_at: binding.expiresAt,
      created_at: binding.createdAt,
      created_by: binding.createdBy,
    })
    .execute();
}

async function hasDenyBindings(db: Kysely<RbacTables>, org: string, roleId: string): Promise<boolean> {
  const row = await db
    .selectFrom('rbac_bindings')
    .select('id')
    .where('org', '=', org)
    .where('role_id', '=', roleId)
    .where('effect', '=', 'deny')
    .limit(1)
    .executeTakeFirst();
  return row !== undefined;
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
  if (binding.expiresAt != null) {
    const time = binding.expiresAt instanceof Date ? binding.expiresAt.getTime() : Number.NaN;
    // Expiry is stored as ISO text and compared as text: only four-digit years keep that order.
    if (!Number.isFinite(time) || time >= MAX_EXPIRY) invalid('expiresAt must be a valid date before the year 10000');
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

function changeEvent(row: ReturnType<typeof changeRow>, before: unknown, after: unknown): RbacChangeEvent {
  return {
    org: row.org,
    actor: row.actor,
    action: row.action,
    outcome: row.outcome,
    reason: row.reason,
    before,
    after,
    requestId: row.request_id,
    at: row.at,
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
