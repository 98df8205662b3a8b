import type { Tenant } from './principal.ts';

/** What a database scope is told about the call whose handler it wraps (see `DatabaseScope`). */
export interface DatabaseScopeCall {
  /** The verified caller's tenant; `null` for an unauthenticated procedure. */
  readonly tenant: Tenant | null;
  /** The procedure's path (`tickets.list`): a scope may apply to some procedures only. */
  readonly path: string;
  /** `true` when `db` is the audit port's transaction (audited procedures), `false` for the runtime's `database`. */
  readonly audited: boolean;
  /** The handle the handler would otherwise get as `ctx.db` (`undefined` when none is configured). */
  readonly db: unknown;
}

/**
 * Runs a handler inside a tenant-scoped database scope: `work` is the handler, called with the handle it
 * gets as `ctx.db`. An application uses it to have the database enforce tenancy under its handlers'
 * filters (PostgreSQL row-level security keyed on the tenant set per transaction, a guard plugin on
 * SQLite; see ADR 0011). It must call `work` at most once and return (or throw) what it returns (throws).
 */
export type DatabaseScope = <T>(call: DatabaseScopeCall, work: (db: unknown) => Promise<T>) => Promise<T>;
