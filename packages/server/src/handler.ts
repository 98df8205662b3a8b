import type { ErrorCodeOf, HandlerOutputOf, IsAuthenticated, ParsedInputOf, Procedure } from '@covenant/contract';
import type { Principal } from '@covenant/identity';
import type { Logger } from 'pino';

/**
 * Declaration merging point for the application's types, as in tRPC and TanStack Router:
 * `declare module '@covenant/server' { interface Register { database: Kysely<AppTables> } }` types `ctx.db`.
 */
// eslint-disable-next-line @typescript-eslint/no-empty-interface
export interface Register {}

/** The type of `ctx.db`: what the application registered, else `unknown`. */
export type RegisteredDatabase = Register extends { readonly database: infer D } ? D : unknown;

export interface Tenant {
  readonly org: string;
  readonly workspace: string | null;
}

/**
 * What a handler receives besides its input. The tenant is the verified principal's: there is no other
 * way for a handler to learn it, so it cannot come from the body.
 */
export interface HandlerContext<P extends Procedure = Procedure> {
  readonly principal: IsAuthenticated<P> extends true ? Principal : Principal | null;
  readonly tenant: IsAuthenticated<P> extends true ? Tenant : Tenant | null;
  readonly requestId: string;
  /** A child logger bound to the request id and procedure path. Do not log classified fields. */
  readonly logger: Logger;
  readonly signal: AbortSignal | undefined;
  /**
   * The database. In an audited procedure it is the audit port's transaction: the writes commit with the
   * ok outcome entry, or roll back when the call fails. Use it, not a database handle of your own — a
   * write through another handle escapes the rollback (and, on SQLite, waits for this transaction).
   */
  readonly db: RegisteredDatabase;
  /** Raises an error declared in the contract; its declared status and message reach the client. */
  fail(code: ErrorCodeOf<P>): never;
}

/**
 * The function a team writes for a procedure. The generated handler interfaces are made of these, so a
 * missing handler, a wrong input type or a wrong return type is a type error.
 */
export type Handler<P extends Procedure> = (args: {
  readonly input: ParsedInputOf<P>;
  readonly ctx: HandlerContext<P>;
}) => HandlerOutputOf<P> | Promise<HandlerOutputOf<P>>;
