import type { Clock } from '@covenant/core';
import { randomUUID } from 'node:crypto';
import type { Handlers } from '../generated/handlers.ts';
import { ofTenant, scopeOf } from './scope.ts';
import type { HelpdeskTables } from './tables.ts';
import { findTicket } from './tickets.ts';

function toComment(row: Omit<HelpdeskTables['helpdesk_comments'], 'seq'>) {
  return { id: row.id, ticketId: row.ticket_id, author: row.author, body: row.body, internal: row.internal === 1, createdAt: row.created_at };
}

export function createCommentHandlers(clock: Clock): Handlers['comments'] {
  return {
    add: async ({ input, ctx }) => {
      const { tenant, db } = scopeOf(ctx);
      const ticket = await findTicket(db, tenant, input.ticketId);
      if (ticket === undefined) return ctx.fail('TICKET_NOT_FOUND');
      if (ticket.status === 'closed') return ctx.fail('TICKET_CLOSED');
      const at = clock.now().toISOString();
      // The comment lives in the ticket's workspace (an org-wide caller may comment in any of them).
      const row = {
        id: `cmt_${randomUUID()}`,
        org: ticket.org,
        workspace: ticket.workspace,
        ticket_id: ticket.id,
        author: ctx.principal.subject,
        body: input.body,
        internal: input.internal === true ? 1 : 0,
        created_at: at,
      };
      await db.insertInto('helpdesk_comments').values(row).execute();
      await db.updateTable('helpdesk_tickets').set({ updated_at: at }).where('id', '=', ticket.id).where(ofTenant(tenant)).execute();
      return toComment(row);
    },
    list: async ({ input, ctx }) => {
      const { tenant, db } = scopeOf(ctx);
      const ticket = await findTicket(db, tenant, input.ticketId);
      if (ticket === undefined) return ctx.fail('TICKET_NOT_FOUND');
      const rows = await db.selectFrom('helpdesk_comments').selectAll().where('ticket_id', '=', ticket.id).where(ofTenant(tenant)).orderBy('seq').execute();
      return { comments: rows.map(toComment) };
    },
  };
}
