import type { HandlerContext } from '@covenant/server';
import type { ExpressionBuilder, Kysely } from 'kysely';
import type { ServiceTables } from '../database.ts';

/** Where a call may read and write: the verified caller's org, and its workspace (`null`: every workspace of the org). */
export interface TenantScope {
  readonly org: string;
  readonly workspace: string | null;
}

type Ctx = Pick<HandlerContext, 'tenant' | 'db'>;

/** The caller's tenant and database. There is no other source of the tenant: not the input, not a header. */
export function scopeOf(ctx: Ctx): { readonly tenant: TenantScope; readonly db: Kysely<ServiceTables> } {
  const tenant = ctx.tenant;
  if (tenant === null) throw new TypeError('helpdesk handlers need an authenticated caller');
  return { tenant: { org: tenant.org, workspace: tenant.workspace }, db: ctx.db };
}

type TenantTable = 'helpdesk_customers' | 'helpdesk_tickets' | 'helpdesk_comments';

/**
 * The caller's tenant as a WHERE condition on a helpdesk table: every read and write of a helpdesk row
 * goes through it (issue 6 adds row-level security underneath, for the query that forgets).
 */
export function ofTenant<T extends TenantTable>(tenant: TenantScope) {
  return (eb: ExpressionBuilder<ServiceTables, T>) => {
    const org = eb(eb.ref('org' as never), '=', tenant.org as never);
    return tenant.workspace === null ? org : eb.and([org, eb(eb.ref('workspace' as never), '=', tenant.workspace as never)]);
  };
}

/** SQLite's error for a violated UNIQUE constraint on `column` (the constraint is the backstop to our checks). */
export function isUniqueViolation(error: unknown, column: string): boolean {
  return (
    error instanceof Error &&
    (error as { code?: unknown }).code === 'SQLITE_CONSTRAINT_UNIQUE' &&
    error.message.includes(`.${column}`)
  );
}

export const pageSize = (limit: number | undefined): number => limit ?? 50;
