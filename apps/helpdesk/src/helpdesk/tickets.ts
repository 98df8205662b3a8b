import type { Clock } from '@covenant/core';
import { randomUUID } from 'node:crypto';
import type { Insertable, Kysely, Selectable } from 'kysely';
import type { ServiceTables } from '../database.ts';
import type { Handlers } from '../generated/handlers.ts';
import { insertCustomer } from './customers.ts';
import { isUniqueViolation, ofTenant, pageSize, scopeOf, type TenantScope } from './scope.ts';
import type { HelpdeskTables } from './tables.ts';

type TicketRow = Selectable<HelpdeskTables['helpdesk_tickets']>;

export function toTicket(row: Omit<TicketRow, 'seq'>) {
  return {
    id: row.id,
    customerId: row.customer_id,
    subject: row.subject,
    status: row.status,
    priority: row.priority,
    assignee: row.assignee,
    externalRef: row.external_ref,
    resolution: row.resolution,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/** The caller's ticket `id`, or `undefined` (another tenant's id is not found: it is not theirs to know). */
export function findTicket(db: Kysely<ServiceTables>, tenant: TenantScope, id: string) {
  return db.selectFrom('helpdesk_tickets').selectAll().where('id', '=', id).where(ofTenant(tenant)).executeTakeFirst();
}

export function createTicketHandlers(clock: Clock): Handlers['tickets'] {
  return {
    create: async ({ input, ctx }) => {
      const { tenant, db } = scopeOf(ctx);
      const workspace = tenant.workspace;
      if (workspace === null) return ctx.fail('WORKSPACE_REQUIRED');
      const home = { org: tenant.org, workspace };
      const now = clock.now();
      let customerId: string;
      if ('new' in input.customer) {
        // Created in this call's transaction: if the ticket cannot be opened, the customer is not kept either.
        const customer = await insertCustomer(db, home, ctx.principal.subject, input.customer.new, now);
        if (customer === null) return ctx.fail('EMAIL_TAKEN');
        customerId = customer.id;
      } else {
        const customer = await db.selectFrom('helpdesk_customers').select('id').where('id', '=', input.customer.id).where(ofTenant(home)).executeTakeFirst();
        if (customer === undefined) return ctx.fail('CUSTOMER_NOT_FOUND');
        customerId = customer.id;
      }
      const at = now.toISOString();
      const row: Insertable<HelpdeskTables['helpdesk_tickets']> & Omit<TicketRow, 'seq'> = {
        id: `tkt_${randomUUID()}`,
        org: home.org,
        workspace: home.workspace,
        customer_id: customerId,
        subject: input.subject,
        status: 'open',
        priority: input.priority ?? 'normal',
        assignee: null,
        external_ref: input.externalRef ?? null,
        resolution: null,
        created_at: at,
        updated_at: at,
        created_by: ctx.principal.subject,
      };
      try {
        // The external reference is unique per org: the constraint decides, so two concurrent opens cannot both win.
        await db.insertInto('helpdesk_tickets').values(row).execute();
      } catch (error) {
        if (isUniqueViolation(error, 'external_ref')) return ctx.fail('DUPLICATE_REFERENCE');
        throw error;
      }
      await db
        .insertInto('helpdesk_comments')
        .values({ id: `cmt_${randomUUID()}`, org: home.org, workspace: home.workspace, ticket_id: row.id, author: ctx.principal.subject, body: input.body, internal: 0, created_at: at })
        .execute();
      return toTicket(row);
    },
    list: async ({ input, ctx }) => {
      const { tenant, db } = scopeOf(ctx);
      const limit = pageSize(input.limit);
      const rows = await db
        .selectFrom('helpdesk_tickets')
        .selectAll()
        .where(ofTenant(tenant))
        .$if(input.status !== undefined, (qb) => qb.where('status', '=', input.status!))
        .$if(input.after !== undefined, (qb) =>
          // A cursor is looked up in the caller's tenant only: another tenant's id matches nothing.
          qb.where('seq', '>', (eb) => eb.selectFrom('helpdesk_tickets').select('seq').where('id', '=', input.after!).where(ofTenant(tenant))),
        )
        .orderBy('seq')
        .limit(limit + 1)
        .execute();
      const page = rows.slice(0, limit);
      return { tickets: page.map(toTicket), next: rows.length > limit ? page[page.length - 1]!.id : null };
    },
    get: async ({ input, ctx }) => {
      const { tenant, db } = scopeOf(ctx);
      const row = await findTicket(db, tenant, input.ticketId);
      if (row === undefined) return ctx.fail('TICKET_NOT_FOUND');
      return toTicket(row);
    },
    update: async ({ input, ctx }) => {
      const { tenant, db } = scopeOf(ctx);
      const row = await findTicket(db, tenant, input.ticketId);
      if (row === undefined) return ctx.fail('TICKET_NOT_FOUND');
      if (row.status === 'closed') return ctx.fail('TICKET_CLOSED');
      const changes = {
        ...(input.subject !== undefined ? { subject: input.subject } : {}),
        ...(input.priority !== undefined ? { priority: input.priority } : {}),
        ...(input.assignee !== undefined ? { assignee: input.assignee } : {}),
        updated_at: clock.now().toISOString(),
      };
      await db.updateTable('helpdesk_tickets').set(changes).where('id', '=', row.id).where(ofTenant(tenant)).execute();
      return toTicket({ ...row, ...changes });
    },
    close: async ({ input, ctx }) => {
      const { tenant, db } = scopeOf(ctx);
      const row = await findTicket(db, tenant, input.ticketId);
      if (row === undefined) return ctx.fail('TICKET_NOT_FOUND');
      if (row.status === 'closed') return ctx.fail('TICKET_CLOSED');
      const changes = { status: 'closed' as const, resolution: input.resolution, updated_at: clock.now().toISOString() };
      await db.updateTable('helpdesk_tickets').set(changes).where('id', '=', row.id).where(ofTenant(tenant)).execute();
      return toTicket({ ...row, ...changes });
    },
  };
}
