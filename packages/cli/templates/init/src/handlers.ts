import { randomUUID } from 'node:crypto';
import type { Tenant } from '{{import:server}}';
import type { ExpressionBuilder } from 'kysely';
import type { AppTables, InvoiceTables } from './database.ts';
import type { Handlers } from './generated/handlers.ts';

type InvoiceRow = InvoiceTables['invoices'];

/**
 * The caller's tenant as a WHERE condition: its org, and its workspace unless the token is org-wide. Every
 * statement on a tenant table goes through it; beneath it the service confines `ctx.db` to the tenant
 * (service.ts), so a statement that forgets it fails instead of reaching another tenant's rows.
 */
function ofTenant(tenant: Tenant) {
  return (eb: ExpressionBuilder<AppTables, 'invoices'>) =>
    tenant.workspace === null ? eb('org', '=', tenant.org) : eb.and([eb('org', '=', tenant.org), eb('workspace', '=', tenant.workspace)]);
}

function toInvoice(row: InvoiceRow) {
  return {
    id: row.id,
    reference: row.reference,
    customerEmail: row.customer_email,
    amount: row.amount,
    currency: row.currency as 'EUR' | 'GBP' | 'USD',
    memo: row.memo,
    createdBy: row.created_by,
    createdAt: row.created_at,
  };
}

/**
 * Every handler the service serves. The generated `Handlers` interface makes a missing one, or a wrong
 * input or output type, a type error. `ctx.principal` and `ctx.tenant` come from the verified token only.
 */
export function createHandlers(clock: () => Date): Handlers {
  return {
    health: {
      check: () => ({ status: 'ok' }),
    },
    invoices: {
      // Audited: `ctx.db` is the ledger's transaction, so these writes commit with the call's outcome
      // entry, or roll back with it when the call fails.
      create: async ({ input, ctx }) => {
        const workspace = ctx.tenant.workspace;
        if (workspace === null) return ctx.fail('WORKSPACE_REQUIRED');
        const tenant = { org: ctx.tenant.org, workspace };
        const taken = await ctx.db
          .selectFrom('invoices')
          .select('id')
          .where(ofTenant(tenant))
          .where('reference', '=', input.reference)
          .executeTakeFirst();
        if (taken !== undefined) return ctx.fail('DUPLICATE_REFERENCE');
        const row: InvoiceRow = {
          id: `inv_${randomUUID()}`,
          ...tenant,
          reference: input.reference,
          customer_email: input.customerEmail,
          amount: input.amount,
          currency: input.currency,
          memo: input.memo ?? null,
          created_by: ctx.principal.subject,
          created_at: clock().toISOString(),
        };
        await ctx.db.insertInto('invoices').values(row).execute();
        return toInvoice(row);
      },
      // Not audited (a query): `ctx.db` is read-only here, since a write would skip audit-before-action.
      list: async ({ input, ctx }) => {
        const rows = await ctx.db
          .selectFrom('invoices')
          .selectAll()
          .where(ofTenant(ctx.tenant))
          .orderBy('created_at', 'desc')
          .orderBy('id', 'desc')
          .limit(input.limit ?? 50)
          .execute();
        return { invoices: rows.map(toInvoice) };
      },
    },
  };
}
