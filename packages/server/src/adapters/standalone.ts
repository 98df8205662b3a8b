import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AnyTRPCRouter } from '@trpc/server';
import { createHTTPHandler } from '@trpc/server/adapters/standalone';
import type { CovenantRuntime } from '../runtime.ts';
import { resolveRequestLimits, type RequestLimits } from './limits.ts';
import { RECEIPTS_HEADER, collectReceipts, type ReceiptCollector } from './receipts.ts';
import { createTrpcWireHandler } from './trpc-wire.ts';

export interface HttpServerOptions extends RequestLimits {
  /** Path prefix the router is served under (default `/`). */
  readonly basePath?: string;
  /**
   * `covenant` (default): Covenant's listener for tRPC's wire protocol, which answers the common
   * requests itself and hands the rest to tRPC's adapter (see `createTrpcWireHandler`). `trpc`: tRPC's
   * standalone adapter for every request.
   */
  readonly transport?: 'covenant' | 'trpc';
}

/**
 * A Node HTTP server for a generated router, speaking tRPC's wire protocol (any `@trpc/client` link
 * works against it). The router is inspected first: a router that is not exactly the generated one is
 * refused at start-up.
 *
 * The body-read bound (`bodyTimeoutMs`) is Node's own `requestTimeout`, checked every
 * `connectionsCheckingInterval` (a tenth of it, at most a second): Node answers 408 and closes the
 * connection of a request that has not arrived whole in time, on every transport and for every request of
 * a kept-alive connection; the calls still waiting for that body fail and never reach their handlers.
 *
 * @example
 * ```ts
 * createHttpServer(runtime, router).listen(3000, '127.0.0.1');
 * ```
 */
export function createHttpServer(runtime: CovenantRuntime, router: AnyTRPCRouter, options: HttpServerOptions = {}): Server {
  runtime.assertSealed(router);
  const transport = options.transport ?? 'covenant';
  if (transport !== 'covenant' && transport !== 'trpc') {
    throw new TypeError('createHttpServer: "transport" must be "covenant" or "trpc"');
  }
  const basePath = options.basePath ?? '/';
  const { maxBodyBytes, maxBatchSize, bodyTimeoutMs } = resolveRequestLimits(options, 'createHttpServer');
  const serverOptions = {
    requestTimeout: bodyTimeoutMs,
    // Node's default (min(60 s, requestTimeout)) written out: the headers alone get no longer than the whole.
    headersTimeout: Math.min(60_000, bodyTimeoutMs),
    connectionsCheckingInterval: Math.max(10, Math.min(1_000, Math.floor(bodyTimeoutMs / 10))),
  };
  // Each request's context carries its own receipt sink; the answer carries what it collected (RECEIPTS_HEADER).
  const collectors = new WeakMap<object, ReceiptCollector>();
  const contextFor = (req: IncomingMessage): object => {
    const collector = collectReceipts(runtime.contextFromHeaders(req.headersDistinct['authorization']));
    collectors.set(collector.context, collector);
    return collector.context;
  };
  const receiptHeaders = (ctx: unknown): Record<string, string> | undefined => {
    const header = ctx !== null && typeof ctx === 'object' ? collectors.get(ctx)?.header() : undefined;
    return header === undefined ? undefined : { [RECEIPTS_HEADER]: header };
  };
  const trpc = createHTTPHandler({
    router,
    basePath,
    maxBodySize: maxBodyBytes,
    maxBatchSize,
    createContext: ({ req }) => contextFor(req),
    responseMeta: ({ ctx }) => {
      const headers = receiptHeaders(ctx);
      return headers === undefined ? {} : { headers };
    },
  });
  if (transport === 'trpc') return createServer(serverOptions, trpc);
  return createServer(
    serverOptions,
    createTrpcWireHandler({
      router,
      basePath,
      maxBodyBytes,
      maxBatchSize,
      createContext: contextFor,
      responseHeaders: receiptHeaders,
      fallback: trpc,
    }),
  );
}
