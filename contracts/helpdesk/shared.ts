import * as z from 'zod';

/**
 * Schemas the helpdesk contracts share. Every input is a strict object with bounded strings and arrays:
 * unknown keys, oversized values and deep nesting are refused with 400 before a handler runs.
 */

/** Ids the service mints (`cus_…`, `tkt_…`, `cmt_…`): letters, digits, `_` and `-`. */
export const Id = z.string().regex(/^[a-z]{3}_[A-Za-z0-9-]{1,64}$/, 'an id such as tkt_0f3a…');

/** A page size and an opaque cursor (the last id of the previous page). */
export const Page = { limit: z.number().int().min(1).max(100).optional(), after: Id.optional() };

export const Priority = z.enum(['low', 'normal', 'high', 'urgent']);
export const Status = z.enum(['open', 'closed']);

/** The subject of a principal (the token's `sub`). */
export const Subject = z.string().min(1).max(255).meta({ pii: 'identifier' });

export const Customer = z.object({
  id: z.string(),
  name: z.string().meta({ pii: 'name' }),
  email: z.string().meta({ pii: 'contact' }),
  phone: z.string().nullable().meta({ pii: 'contact' }),
  createdAt: z.string(),
});

export const Ticket = z.object({
  id: z.string(),
  customerId: z.string(),
  subject: z.string().meta({ pii: 'free-text' }),
  status: Status,
  priority: Priority,
  assignee: z.string().nullable().meta({ pii: 'identifier' }),
  externalRef: z.string().nullable(),
  resolution: z.string().nullable().meta({ pii: 'free-text' }),
  createdAt: z.string(),
  updatedAt: z.string(),
});

export const Comment = z.object({
  id: z.string(),
  ticketId: z.string(),
  author: z.string().meta({ pii: 'identifier' }),
  body: z.string().meta({ pii: 'free-text' }),
  internal: z.boolean(),
  createdAt: z.string(),
});

export const NewCustomer = z.strictObject({
  name: z.string().trim().min(1).max(200).meta({ pii: 'name' }),
  email: z.email().max(254).meta({ pii: 'contact' }),
  phone: z
    .string()
    .regex(/^\+?[0-9 ()-]{5,32}$/, 'a phone number')
    .optional()
    .meta({ pii: 'contact' }),
});
