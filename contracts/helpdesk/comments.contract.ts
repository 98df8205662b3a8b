import { defineContract, mutation, query } from '@covenant/contract';
import * as z from 'zod';
import { Comment, Id } from './shared.ts';

const TicketRef = { type: 'ticket', id: 'ticketId' } as const;

/** The conversation on a ticket: replies to the customer, and internal notes (`internal: true`). */
export const comments = defineContract('comments', {
  add: mutation({
    summary: 'Adds a comment to an open ticket.',
    input: z.strictObject({
      ticketId: Id,
      body: z.string().trim().min(1).max(20_000).meta({ pii: 'free-text' }),
      internal: z.boolean().optional(),
    }),
    output: Comment,
    capability: 'comments.write',
    resource: TicketRef,
    errors: {
      TICKET_NOT_FOUND: { status: 404, message: 'No such ticket' },
      TICKET_CLOSED: { status: 409, message: 'The ticket is closed' },
    },
  }),
  list: query({
    summary: 'The comments on a ticket, oldest first.',
    input: z.strictObject({ ticketId: Id }),
    output: z.object({ comments: z.array(Comment) }),
    capability: 'tickets.read',
    resource: TicketRef,
    errors: { TICKET_NOT_FOUND: { status: 404, message: 'No such ticket' } },
  }),
});
