import { randomUUID } from 'node:crypto';
import type { PipelineStep, Procedure } from '@covenant/contract';
import type { TokenVerifier } from '@covenant/identity';
import type { Principal } from '@covenant/identity';
import { initTRPC, type AnyTRPCRouter } from '@trpc/server';
import type { DecorateRouterRecord } from '@trpc/server/unstable-core-do-not-import';
import { pino, type Logger } from 'pino';
import type { Handler } from './handler.ts';
import { inspectRouter, type RouterFinding } from './inspect-router.ts';
import { auditStep } from './pipeline/audit.ts';
import { authenticateStep } from './pipeline/authenticate.ts';
import { authorizeActionStep, authorizeStep } from './pipeline/authorize.ts';
import type { PipelineDeps, Step, TransportContext } from './pipeline/deps.ts';
import { createLogDestination } from './log-destination.ts';
import { handleStep } from './pipeline/handle.ts';
import { refuseTenancyKeysStep } from './pipeline/refuse-tenancy-keys.ts';
import { requestContextStep } from './pipeline/request-context.ts';
import { systemClock, type AuditPort, type AuthorizationPort, type Clock, type DatabaseScope } from '@covenant/core';
import { createBuildRegistry, type Seal } from './seal.ts';
import { formatWireError } from './wire-error.ts';

export interface CovenantRuntimeOptions {
  /** Verifies bearer tokens into principals (`createTokenVerifier` from `@covenant/identity`). */
  readonly identity: TokenVerifier;
  /** Required: there is no allow-all default. */
  readonly authorization: AuthorizationPort;
  /** Required: audited procedures fail closed without it. */
  readonly audit: AuditPort;
  /**
   * Defaults to pino at `info` on stdout through `createLogDestination` (never blocks, never throws: a
   * full disk drops log lines, it does not stop the service).
   */
  readonly logger?: Logger;
  readonly clock?: Clock;
  readonly requestId?: () => string;
  /**
   * The database handlers see as `ctx.db` (e.g. a kysely instance). Audited procedures get the audit
   * port's transaction on it instead, so their writes commit or roll back with their outcome entry.
   * Declare its type once with `declare module '@covenant/server' { interface Register { database: … } }`.
   */
  readonly database?: unknown;
  /**
   * Optional: runs every handler inside a tenant-scoped database scope. The handler is called as
   * `databaseScope({ tenant, path, audited, db }, (scoped) => handler({ input, ctx }))` with `ctx.db` =
   * `scoped`, where `db` is what `ctx.db` would be without it (the audit port's transaction, or
   * `database`). The helpdesk sets the tenant for PostgreSQL row-level security there, and wraps the
   * handle in a tenant guard on SQLite (ADR 0011). Without it, `ctx.db` is `db` itself.
   */
  readonly databaseScope?: DatabaseScope;
}

function createTRPC() {
  return initTRPC
    .context<TransportContext>()
    .meta<Seal>()
    .create({
      // Wire-safe by construction: no stacks, no causes, only declared messages.
      errorFormatter: ({ error, path }) => formatWireError({ error, path }),
      isDev: false,
    });
}

type CovenantTRPC = ReturnType<typeof createTRPC>;

/**
 * The pieces generated routers are built from. Generated code calls `seal`, the `step` factories and
 * `router`; application code calls `createCaller`, or hands the router to an adapter.
 */
export interface CovenantRuntime {
  /** The base procedure builder (tRPC's `t.procedure`). */
  readonly procedure: CovenantTRPC['procedure'];
  readonly step: PipelineStepFactories;
  seal(path: string, contract: string, procedure: Procedure, definitionHash: string): Seal;
  /** tRPC's `t.router`, bound to Covenant's context, meta and error formatter. */
  readonly router: CovenantTRPC['router'];
  /**
   * Compares every procedure of a router with what this runtime built: the generator's seal (a
   * hand-written `.meta()` replaces it), the definition hash, and the exact chain of steps.
   */
  inspect(router: AnyTRPCRouter): RouterFinding[];
  /**
   * Refuses a router whose procedures are not exactly what the generator emitted (see `inspect`).
   * Adapters and `createCaller` call it, so a tampered router never serves.
   */
  assertSealed(router: AnyTRPCRouter): void;
  /**
   * A server-side caller. It must present a verified principal or a bearer token: contexts cannot be forged.
   * `onAuditReceipt` receives the receipt of each audited call it makes (its entries' seqs and the signed
   * checkpoint covering them), before the call returns.
   *
   * @example
   * ```ts
   * const principal = await verifier.verify(token);
   * const receipts: AuditReceipt[] = [];
   * const caller = runtime.createCaller(router, { principal }, { onAuditReceipt: (receipt) => receipts.push(receipt) });
   * await caller.tickets.create({ title: 'Printer on fire', requesterEmail });
   * // receipts[0]: { intentSeq, outcomeSeq, checkpoint: { size, root, note } }
   * ```
   */
  createCaller<R extends AnyTRPCRouter>(
    router: R,
    credentials: { readonly principal: Principal } | { readonly token: string },
    options?: { readonly onAuditReceipt?: TransportContext['onAuditReceipt'] },
  ): DecorateRouterRecord<R['_def']['record']>;
  /** The transport context for an HTTP request, from its Authorization header(s) only. */
  contextFromHeaders(authorization: string | ReadonlyArray<string> | undefined | null): TransportContext;
}

/** One factory per pipeline step; generated code calls them in the order `pipelineFor` gives. */
export interface PipelineStepFactories {
  requestContext(path: string): Step;
  authenticate(procedure: Procedure): Step;
  authorize(procedure: Procedure): Step;
  refuseTenancyKeys(): Step;
  authorizeAction(procedure: Procedure): Step;
  audit(procedure: Procedure): Step;
  handle<P extends Procedure>(procedure: P, handler: Handler<P>): ReturnType<typeof handleStep<P>>;
}

/**
 * Assembles the runtime. Configuration is checked here, once: a missing port is a TypeError at start-up,
 * never an allow-all default on the first request.
 *
 * @example
 * ```ts
 * const runtime = createCovenantRuntime({ identity: verifier, authorization: rbac, audit: ledger });
 * const router = createRouter(runtime, handlers); // generated by covenant gen
 * createHttpServer(runtime, router).listen(3000);
 * ```
 */
export function createCovenantRuntime(options: CovenantRuntimeOptions): CovenantRuntime {
  if (options === null || typeof options !== 'object') throw new TypeError('createCovenantRuntime: options are required');
  requirePort(options.identity, 'identity', ['verify', 'verifyAuthorizationHeader', 'revalidate']);
  requirePort(options.authorization, 'authorization', ['check']);
  requirePort(options.audit, 'audit', ['audited', 'recordDenial']);
  if (options.databaseScope !== undefined && typeof options.databaseScope !== 'function') {
    throw new TypeError('createCovenantRuntime: "databaseScope" must be a function');
  }
  const deps: PipelineDeps = {
    identity: options.identity,
    authorization: options.authorization,
    audit: options.audit,
    logger: options.logger ?? pino({ level: 'info' }, createLogDestination()),
    clock: options.clock ?? systemClock,
    requestId: options.requestId ?? randomUUID,
    database: options.database,
    databaseScope: options.databaseScope,
  };
  const t = createTRPC();
  const registry = createBuildRegistry();
  const register = <F extends Function>(step: PipelineStep, procedure: Procedure | null, fn: F): F => {
    registry.steps.set(fn, { step, procedure });
    return fn;
  };

  const step: PipelineStepFactories = {
    requestContext: (path) => register('requestContext', null, requestContextStep(deps, path)),
    authenticate: (procedure) => register('authenticate', procedure, authenticateStep(deps, procedure)),
    authorize: (procedure) => register('authorize', procedure, authorizeStep(deps, procedure)),
    refuseTenancyKeys: () => register('refuseTenancyKeys', null, refuseTenancyKeysStep()),
    authorizeAction: (procedure) => register('authorizeAction', procedure, authorizeActionStep(deps, procedure)),
    audit: (procedure) => register('audit', procedure, auditStep(deps, procedure)),
    handle: (procedure, handler) => register('handle', procedure, handleStep(deps, procedure, handler)),
  };

  const inspect = (router: AnyTRPCRouter): RouterFinding[] => inspectRouter(router, registry);
  // Routers are immutable: one that passed is not inspected again (createCaller may be called per job).
  const sealedRouters = new WeakSet<AnyTRPCRouter>();
  const assertSealed = (router: AnyTRPCRouter): void => {
    if (sealedRouters.has(router)) return;
    const findings = inspect(router);
    if (findings.length > 0) {
      throw new TypeError(
        `refusing to serve a router that is not exactly the generated one:\n` +
          findings.map((f) => `  - ${f.path}: ${f.message} [${f.code}]`).join('\n'),
      );
    }
    sealedRouters.add(router);
  };

  return {
    procedure: t.procedure,
    step,
    seal(path, contract, procedure, definitionHash) {
      const seal: Seal = Object.freeze({ path, contract, definitionHash });
      registry.seals.set(seal, { seal, procedure });
      return seal;
    },
    router: t.router,
    inspect,
    assertSealed,
    createCaller(router, credentials, options) {
      assertSealed(router);
      const onAuditReceipt = options?.onAuditReceipt;
      if (onAuditReceipt !== undefined && typeof onAuditReceipt !== 'function') throw new TypeError('createCaller: "onAuditReceipt" must be a function');
      const ctx: TransportContext = {
        ...('principal' in credentials ? { principal: credentials.principal } : { authorization: `Bearer ${credentials.token}` }),
        ...(onAuditReceipt !== undefined ? { onAuditReceipt } : {}),
      };
      return t.createCallerFactory(router)(ctx) as DecorateRouterRecord<typeof router['_def']['record']>;
    },
    contextFromHeaders,
  };
}

/** Several Authorization headers are ambiguous: they are joined, which the bearer parser refuses. */
function contextFromHeaders(authorization: string | ReadonlyArray<string> | undefined | null): TransportContext {
  if (authorization === undefined || authorization === null) return {};
  return { authorization: typeof authorization === 'string' ? authorization : authorization.join(', ') };
}

function requirePort(value: unknown, name: string, methods: ReadonlyArray<string>): void {
  if (value === null || typeof value !== 'object') {
    throw new TypeError(`createCovenantRuntime: "${name}" is required (there is no allow-all default)`);
  }
  for (const method of methods) {
    if (typeof (value as Record<string, unknown>)[method] !== 'function') {
      throw new TypeError(`createCovenantRuntime: "${name}.${method}" must be a function`);
    }
  }
}

