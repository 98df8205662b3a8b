import type { ErrorCodeOf, Procedure } from '@covenant/contract';
import { RbacChangeError, type Binding, type ChangeRecord, type RbacActor, type RbacStore, type Role } from '@covenant/rbac';
import type { HandlerContext } from '@covenant/server';
import { rbac } from '../../../contracts/platform/rbac.contract.ts';
import type { Handlers } from './generated/handlers.ts';

/**
 * The handlers of the `rbac` platform contract over an RBAC store.
 *
 * - The org is always the verified caller's (`ctx.tenant.org`): there is no other source, so another
 *   tenant's role and binding ids are simply not found.
 * - The actor is the caller's principal; the store bounds what it may grant by what it holds, and
 *   records every change with the request id. Changes run on `ctx.db`, the audited call's ledger
 *   transaction: the change, its ledger entry and the call's ok outcome commit together. A refused
 *   change fails the call, whose `failed` outcome on the ledger carries the refusal's code.
 * - A store refusal with a code the procedure declares becomes that declared error (`ctx.fail`: e.g. 409
 *   ORG_UNMANAGEABLE); an escalation or scope refusal is a security error and is rethrown as it is (the
 *   pipeline answers 403 ERR_RBAC_ESCALATION_REFUSED or ERR_RBAC_SCOPE_REFUSED); anything else is an
 *   internal error whose cause stays in the log. The store records every refusal, and keeps the record
 *   although the call rolls back.
 *
 * Where the caller may act is the store's decision, not these handlers': they pass the workspace of the
 * caller's session (`ctx.tenant.workspace`) with the actor, and the store confines every change to the
 * scope where the caller holds the managing capability, within that workspace.
 *
 * @example
 * ```ts
 * const handlers: Handlers = { platform, rbac: createRbacAdminHandlers(store) };
 * ```
 */
export function createRbacAdminHandlers(store: RbacStore): Handlers['rbac'] {
  return {
    roles: {
      list: async ({ ctx }) => ({ roles: (await store.listRoles(ctx.tenant.org)).map(role) }),
      create: ({ input, ctx }) =>
        refusals(rbac.roles.create, ctx, async () => {
          const created = await store.bind(ctx.db).createRole(
            actor(ctx),
            ctx.tenant.org,
            { name: input.name, description: input.description ?? null, capabilities: input.capabilities },
            input.reason,
          );
          return role(created);
        }),
      update: ({ input, ctx }) =>
        refusals(rbac.roles.update, ctx, async () => {
          const changes = {
            ...(input.description !== undefined ? { description: input.description } : {}),
            ...(input.capabilities !== undefined ? { capabilities: input.capabilities } : {}),
          };
          return role(await store.bind(ctx.db).updateRole(actor(ctx), ctx.tenant.org, input.roleId, changes, input.reason));
        }),
      delete: ({ input, ctx }) =>
        refusals(rbac.roles.delete, ctx, async () => {
          await store.bind(ctx.db).deleteRole(actor(ctx), ctx.tenant.org, input.roleId, input.reason);
          return { id: input.roleId, deleted: true as const };
        }),
    },
    bindings: {
      list: async ({ input, ctx }) => {
        const filter = input.subject !== undefined ? { subject: input.subject } : {};
        const bindings = await store.listBindings(ctx.tenant.org, filter);
        // A session limited to a workspace sees that workspace's bindings only: another's are another tenant's.
        const workspace = ctx.tenant.workspace;
        return { bindings: bindings.filter((b) => workspace === null || b.workspace === workspace).map(binding) };
      },
      grant: ({ input, ctx }) =>
        refusals(rbac.bindings.grant, ctx, async () => {
          const created = await store.bind(ctx.db).grant(
            actor(ctx),
            ctx.tenant.org,
            {
              subject: input.subject,
              roleId: input.roleId,
              effect: input.effect,
              workspace: input.inWorkspace ?? null,
              resource: input.resource ? { type: input.resource.type, id: input.resource.id } : null,
              expiresAt: input.expiresAt !== undefined ? new Date(input.expiresAt) : null,
            },
            input.reason,
          );
          return binding(created);
        }),
      revoke: ({ input, ctx }) =>
        refusals(rbac.bindings.revoke, ctx, async () => {
          await store.bind(ctx.db).revoke(actor(ctx), ctx.tenant.org, input.bindingId, input.reason);
          return { id: input.bindingId, revoked: true as const };
        }),
    },
    changes: {
      list: async ({ input, ctx }) => {
        const workspace = ctx.tenant.workspace;
        if (workspace === null) return { changes: [...(await store.changes(ctx.tenant.org, { limit: input.limit }))] };
        // A session limited to a workspace sees the changes of bindings in that workspace only (not the org's
        // roles, not other workspaces' bindings): read deep enough to fill the page with them.
        const all = await store.changes(ctx.tenant.org, { limit: 1000 });
        return { changes: all.filter((c) => concernsOnly(c, workspace)).slice(0, input.limit) };
      },
    },
  };
}

/**
 * Whether a change record is about bindings of `workspace` and nothing else: every binding (or attempted
 * binding) in its before/after names that workspace. Role changes and org-wide bindings are not.
 */
function concernsOnly(change: ChangeRecord, workspace: string): boolean {
  const places: Array<string | null | undefined> = [];
  const visit = (value: unknown): void => {
    if (value === null || typeof value !== 'object') return;
    if (Array.isArray(value)) {
      value.forEach(visit);
      return;
    }
    const record = value as Record<string, unknown>;
    if ('capabilities' in record && 'name' in record) places.push(undefined); // a role: the org's
    else if ('roleId' in record || 'subject' in record) places.push(typeof record['workspace'] === 'string' ? record['workspace'] : null);
    for (const child of Object.values(record)) if (child !== null && typeof child === 'object') visit(child);
  };
  visit(change.before);
  visit(change.after);
  return places.length > 0 && places.every((place) => place === workspace);
}

/**
 * The caller as the store records it: `user:<subject>`, its subject (what bounds its grants), the
 * workspace its session is bound to (the store confines the change to it), the request.
 */
function actor(ctx: {
  readonly principal: { readonly subject: string };
  readonly tenant: { readonly workspace: string | null };
  readonly requestId: string;
}): RbacActor {
  return { id: `user:${ctx.principal.subject}`, subject: ctx.principal.subject, workspace: ctx.tenant.workspace, requestId: ctx.requestId };
}

/**
 * Runs a store operation; a refusal whose code `procedure` declares becomes that declared error. Codes a
 * procedure does not declare (they cannot arise from its input) and every other error are rethrown as
 * they are: an `EscalationRefusedError` keeps its 403, anything else becomes a generic 500.
 */
async function refusals<P extends Procedure, T>(procedure: P, ctx: HandlerContext<P>, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof RbacChangeError && Object.hasOwn(procedure['~covenant'].errors, error.code)) {
      ctx.fail(error.code as ErrorCodeOf<P>);
    }
    throw error;
  }
}

/** Copies, so the wire shape is exactly the contract's whatever else a store's records carry. */
function role(r: Role) {
  return { id: r.id, name: r.name, description: r.description, capabilities: [...r.capabilities], createdAt: r.createdAt };
}

function binding(b: Binding) {
  return {
    id: b.id,
    subject: b.subject,
    roleId: b.roleId,
    effect: b.effect,
    workspace: b.workspace,
    resource: b.resource === null ? null : { type: b.resource.type, id: b.resource.id },
    expiresAt: b.expiresAt,
    createdAt: b.createdAt,
    createdBy: b.createdBy,
  };
}
