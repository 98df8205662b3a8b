import { defineContract, mutation, query } from '{{import:contract}}';
import * as z from 'zod';

/** An amount in the currency's minor unit (cents): integers only, so no rounding reaches a total. */
const Amount = z.number().int().min(1).max(1_000_000_000);
const Currency = z.enum(['EUR', 'GBP', 'USD']);

export const Invoice = z.object({
  id: z.string(),
  reference: z.string(),
  customerEmail: z.string().meta({ pii: 'contact' }),
  amount: z.number().int(),
  currency: Currency,
  memo: z.string().nullable().meta({ pii: 'free-text' }),
  createdBy: z.string().meta({ pii: 'identifier' }),
  createdAt: z.string(),
});

/**
 * The invoices of an org, each issued in one of its workspaces. Every procedure acts in the caller's tenant, taken from the verified token: an
 * input never names one (`orgId`, `workspaceId` or `tenantId` in an input fails to load). Personal data is
 * classified in the schema (`.meta({ pii })`): logs and the audit ledger never see it in the clear.
 */
export const invoices = defineContract('invoices', {
  create: mutation({
    summary: 'Issues an invoice in the caller’s workspace.',
    input: z.strictObject({
      /** Your own reference for it (an order number): unique in the workspace, so a retried call cannot bill twice. */
      reference: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'letters, digits, ".", "_" or "-"'),
      customerEmail: z.email().max(254).meta({ pii: 'contact' }),
      amount: Amount,
      currency: Currency,
      memo: z.string().trim().min(1).max(2_000).optional().meta({ pii: 'free-text' }),
    }),
    output: Invoice,
    // A mutation is audited by default: its intent is on the ledger before the handler runs, and its
    // outcome commits with the handler's writes.
    capability: 'invoices.write',
    errors: {
      DUPLICATE_REFERENCE: { status: 409, message: 'An invoice with this reference already exists' },
      WORKSPACE_REQUIRED: { status: 400, message: 'Sign in to a workspace to issue invoices' },
    },
  }),
  list: query({
    summary: 'The latest invoices of the caller’s workspace (of every workspace, for an org-wide token), newest first.',
    input: z.strictObject({ limit: z.number().int().min(1).max(100).optional() }),
    output: z.object({ invoices: z.array(Invoice) }),
    capability: 'invoices.read',
  }),
});
