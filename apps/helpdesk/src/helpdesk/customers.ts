import type { Clock } from '@covenant/core';
import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { ServiceTables } from '../database.ts';
import type { Handlers } from '../generated/handlers.ts';
import type { HelpdeskTables } from './tables.ts';
import { ofTenant, pageSize, scopeOf, type TenantScope } from './scope.ts';

type CustomerRow = HelpdeskTables['helpdesk_customers'];

export function toCustomer(row: Pick<CustomerRow, 'id' | 'name' | 'email' | 'phone' | 'created_at'>) {
  return { id: row.id, name: row.name, email: row.email, phone: row.phone, createdAt: row.created_at };
}

/** Inserts a customer in `workspace`; `null` when the email is already a customer's there. */
export async function insertCustomer(
  db: Kysely<ServiceTables>,
  tenant: TenantScope & { readonly workspace: string },
  author: string,
  input: { readonly name: string; readonly email: string; readonly phone?: string | undefined },
  now: Date,
) {
  const email = input.email.toLowerCase();
  const taken = await db
    .selectFrom('helpdesk_customers')
    .select('id')
    .where('org', '=', tenant.org)
    .where('workspace', '=', tenant.workspace)
    .where('email', '=', email)
    .executeTakeFirst();
  if (taken !== undefined) return null;
  const row = {
    id: `cus_${randomUUID()}`,
    org: tenant.org,
    workspace: tenant.workspace,
    name: input.name,
    email,
    phone: input.phone ?? null,
    created_at: now.toISOString(),
    created_by: author,
  };
  await db.insertInto('helpdesk_customers').values(row).execute();
  return row;
}

export function createCustomerHandlers(clock: Clock): Handlers['customers'] {
  return {
    create: async ({ input, ctx }) => {
      const { tenant, db } = scopeOf(ctx);
      const workspace = tenant.workspace;
      if (workspace === null) return ctx.fail('WORKSPACE_REQUIRED');
      const row = await insertCustomer(db, { org: tenant.org, workspace }, ctx.principal.subject, input, clock.now());
      if (row === null) return ctx.fail('EMAIL_TAKEN');
      return toCustomer(row);
    },
    get: async ({ input, ctx }) => {
      const { tenant, db } = scopeOf(ctx);
      const row = await db.selectFrom('helpdesk_customers').selectAll().where('id', '=', input.customerId).where(ofTenant(tenant)).executeTakeFirst();
      if (row === undefined) return ctx.fail('CUSTOMER_NOT_FOUND');
      return toCustomer(row);
    },
    list: async ({ input, ctx }) => {
      const { tenant, db } = scopeOf(ctx);
      const limit = pageSize(input.limit);
      const rows = await db
        .selectFrom('helpdesk_customers')
        .selectAll()
        .where(ofTenant(tenant))
        .$if(input.after !== undefined, (qb) =>
          // A cursor is looked up in the caller's tenant only: another tenant's id matches nothing.
          qb.where('seq', '>', (eb) => eb.selectFrom('helpdesk_customers').select('seq').where('id', '=', input.after!).where(ofTenant(tenant))),
        )
        .orderBy('seq')
        .limit(limit + 1)
        .execute();
      const page = rows.slice(0, limit);
      return { customers: page.map(toCustomer), next: rows.length > limit ? page[page.length - 1]!.id : null };
    },
  };
}
