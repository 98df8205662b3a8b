import type { AnyTRPCRouter } from '@trpc/server';
import { fetchRequestHandler } from '@trpc/server/adapters/fetch';
import type { CovenantRuntime } from '../runtime.ts';

export interface FetchHandlerOptions {
  /** The path the router is served under, e.g. `/api`. */
  readonly endpoint: string;
  readonly maxBatchSize?: number;
}

/**
 * A Fetch API handler (`(Request) => Promise<Response>`) for runtimes such as Deno, Bun or workers.
 * Like the Node server, it refuses a router that is not exactly the generated one.
 *
 * @example
 * ```ts
 * const handle = createFetchHandler(runtime, router, { endpoint: '/api' });
 * export default { fetch: handle };
 * ```
 */
export function createFetchHandler(
  runtime: CovenantRuntime,
  router: AnyTRPCRouter,
  options: FetchHandlerOptions,
): (request: Request) => Promise<Response> {
  runtime.assertSealed(router);
  return (request) =>
    fetchRequestHandler({
      endpoint: options.endpoint,
      req: request,
      router,
      maxBatchSize: options.maxBatchSize ?? 20,
      // Fetch joins repeated headers with ", ", which the bearer parser refuses: ambiguity is a 401.
      createContext: () => runtime.contextFromHeaders(request.headers.get('authorization')),
    });
}
