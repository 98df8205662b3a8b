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
 * goes through it. Underneath, the database confines the query that forgets (ADR 0011, tenancy.ts).
 */
export function ofTenant<T extends TenantTable>(tenant: TenantScope) {
  return (eb: ExpressionBuilder<ServiceTables, T>) => {
    const org = eb(eb.ref('org' as never), '=', tenant.org as never);
    return tenant.workspace === null ? org : eb.and([org, eb(eb.ref('workspace' as never), '=', tenant.workspace as never)]);
  };
}

/**
 * The database's error for a violated UNIQUE constraint on `column` (the constraint is the backstop to our
 * checks): SQLite's `SQLITE_CONSTRAINT_UNIQUE` naming `<table>.<column>`, or PostgreSQL's SQLSTATE 23505
 * whose detail names the key's columns (`Key (org, external_ref)=(…) already exists.`) or, failing that,
 * whose constraint is named `<table>_<column>`.
 */
export function isUniqueViolation(error: unknown, column: string): boolean {
  if (!(error instanceof Error)) return false;
  const { code, detail, constraint } = error as { code?: unknown; detail?: unknown; constraint?: unknown };
  if (code === 'SQLITE_CONSTRAINT_UNIQUE') return error.message.includes(`.${column}`);
  if (code !== '23505') return false;
  const key = typeof detail === 'string' ? /^Key \(([^)]*)\)=/.exec(detail) : null;
  if (key !== null) return key[1]!.split(',').some((name) => name.trim().replace(/^"|"$/g, '') === column);
  return typeof constraint === 'string' && constraint.endsWith(`_${column}`);
}

export const pageSize = (limit: number | undefined): number => limit ?? 50;
