import { createServer, type Server } from 'node:http';
import type { AnyTRPCRouter } from '@trpc/server';
import { createHTTPHandler } from '@trpc/server/adapters/standalone';
import type { CovenantRuntime } from '../runtime.ts';
import { createTrpcWireHandler } from './trpc-wire.ts';

export interface HttpServerOptions {
  /** Largest accepted request body in bytes (default 1 MiB); larger bodies get 413. */
  readonly maxBodyBytes?: number;
  /** Largest batch (default 20 calls). */
  readonly maxBatchSize?: number;
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
  const maxBodyBytes = options.maxBodyBytes ?? 1024 * 1024;
  const maxBatchSize = options.maxBatchSize ?? 20;
  const trpc = createHTTPHandler({
    router,
    basePath,
    maxBodySize: maxBodyBytes,
    maxBatchSize,
    createContext: ({ req }) => runtime.contextFromHeaders(req.headersDistinct['authorization']),
  });
  if (transport === 'trpc') return createServer(trpc);
  return createServer(
    createTrpcWireHandler({
      router,
      basePath,
      maxBodyBytes,
      maxBatchSize,
      createContext: (req) => runtime.contextFromHeaders(req.headersDistinct['authorization']),
      fallback: trpc,
    }),
  );
}
