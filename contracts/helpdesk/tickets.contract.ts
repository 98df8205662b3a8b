import { defineContract, mutation, query } from '@covenant/contract';
import * as z from 'zod';
import { Id, NewCustomer, Page, Priority, Status, Subject, Ticket } from './shared.ts';

const TicketRef = { type: 'ticket', id: 'ticketId' } as const;
const NOT_FOUND = { TICKET_NOT_FOUND: { status: 404, message: 'No such ticket' } } as const;
const CLOSED = { TICKET_CLOSED: { status: 409, message: 'The ticket is closed' } } as const;

/**
 * Tickets of a workspace. Every procedure acts in the caller's org and workspace (from the verified
 * token); a ticket id of another tenant is simply not found. Agents open, read and update tickets;
 * closing one takes `tickets.close` (supervisors).
 */
export const tickets = defineContract('tickets', {
  create: mutation({
    summary: 'Opens a ticket for an existing customer, or for a new one created in the same transaction.',
    input: z.strictObject({
      customer: z.union([z.strictObject({ id: Id }), z.strictObject({ new: NewCustomer })]),
      subject: z.string().trim().min(1).max(200).meta({ pii: 'free-text' }),
      body: z.string().trim().min(1).max(20_000).meta({ pii: 'free-text' }),
      priority: Priority.optional(),
      /** A reference in another system (an incident number): unique in the org. */
      externalRef: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/).optional(),
    }),
    output: Ticket,
    capability: 'tickets.write',
    errors: {
      CUSTOMER_NOT_FOUND: { status: 404, message: 'No such customer' },
      EMAIL_TAKEN: { status: 409, message: 'A customer with this email already exists' },
      DUPLICATE_REFERENCE: { status: 409, message: 'Another ticket already has this external reference' },
      WORKSPACE_REQUIRED: { status: 400, message: 'Sign in to a workspace to open tickets' },
    },
  }),
  list: query({
    summary: 'The tickets of the caller’s workspace, oldest first.',
    input: z.strictObject({ status: Status.optional(), ...Page }),
    output: z.object({ tickets: z.array(Ticket), next: z.string().nullable() }),
    capability: 'tickets.read',
  }),
  get: query({
    summary: 'One ticket.',
    input: z.strictObject({ ticketId: Id }),
    output: Ticket,
    capability: 'tickets.read',
    resource: TicketRef,
    errors: NOT_FOUND,
  }),
  update: mutation({
    summary: 'Changes an open ticket’s subject, priority or assignee.',
    input: z.strictObject({
      ticketId: Id,
      subject: z.string().trim().min(1).max(200).meta({ pii: 'free-text' }).optional(),
      priority: Priority.optional(),
      assignee: Subject.nullable().optional(),
    }),
    output: Ticket,
    capability: 'tickets.write',
    resource: TicketRef,
    errors: { ...NOT_FOUND, ...CLOSED },
  }),
  close: mutation({
    summary: 'Closes a ticket with a resolution.',
    input: z.strictObject({ ticketId: Id, resolution: z.string().trim().min(1).max(2_000).meta({ pii: 'free-text' }) }),
    output: Ticket,
    capability: 'tickets.close',
    resource: TicketRef,
    errors: { ...NOT_FOUND, ...CLOSED },
  }),
});
