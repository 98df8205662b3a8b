import type { Server } from 'node:http';
import type { AnyTRPCRouter } from '@trpc/server';
import { createHTTPServer } from '@trpc/server/adapters/standalone';
import type { CovenantRuntime } from '../runtime.ts';

export interface HttpServerOptions {
  /** Largest accepted request body in bytes (default 1 MiB); larger bodies get 413. */
  readonly maxBodyBytes?: number;
  /** Largest batch (default 20 calls). */
  readonly maxBatchSize?: number;
  /** Path prefix the router is served under (default `/`). */
  readonly basePath?: string;
}

/**
 * A Node HTTP server for a generated router (tRPC's standalone adapter). The router is inspected first:
 * a router that is not exactly the generated one is refused at start-up.
 *
 * @example
 * ```ts
 * createHttpServer(runtime, router).listen(3000, '127.0.0.1');
 * ```
 */
export function createHttpServer(runtime: CovenantRuntime, router: AnyTRPCRouter, options: HttpServerOptions = {}): Server {
  runtime.assertSealed(router);
  return createHTTPServer({
    router,
    basePath: options.basePath ?? '/',
    maxBodySize: options.maxBodyBytes ?? 1024 * 1024,
    maxBatchSize: options.maxBatchSize ?? 20,
    createContext: ({ req }) => runtime.contextFromHeaders(req.headersDistinct['authorization']),
  });
}
