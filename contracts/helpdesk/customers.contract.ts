import { defineContract, mutation, query } from '@covenant/contract';
import * as z from 'zod';
import { Customer, Id, NewCustomer, Page } from './shared.ts';

/**
 * The people who open tickets. Their name, email and phone are personal data, classified in the schema:
 * logs and the audit ledger never see them (the ledger records a digest of the redacted input), and reads
 * of them are audited like writes.
 */
export const customers = defineContract('customers', {
  create: mutation({
    summary: 'Adds a customer to the caller’s workspace.',
    input: NewCustomer,
    output: Customer,
    capability: 'customers.write',
    errors: {
      EMAIL_TAKEN: { status: 409, message: 'A customer with this email already exists' },
      WORKSPACE_REQUIRED: { status: 400, message: 'Sign in to a workspace to add customers' },
    },
  }),
  get: query({
    summary: 'One customer of the caller’s workspace (an audited read of personal data).',
    input: z.strictObject({ customerId: Id }),
    output: Customer,
    capability: 'customers.read',
    resource: { type: 'customer', id: 'customerId' },
    audit: true,
    errors: { CUSTOMER_NOT_FOUND: { status: 404, message: 'No such customer' } },
  }),
  list: query({
    summary: 'The customers of the caller’s workspace, oldest first (an audited read of personal data).',
    input: z.strictObject({ ...Page }),
    output: z.object({ customers: z.array(Customer), next: z.string().nullable() }),
    capability: 'customers.read',
    audit: true,
  }),
});
