import type { AnyTRPCRouter } from '@trpc/server';
import { fetchRequestHandler } from '@trpc/server/adapters/fetch';
import type { CovenantRuntime } from '../runtime.ts';
import { boundedRequest, resolveRequestLimits, type RequestLimits } from './limits.ts';
import { RECEIPTS_HEADER, collectReceipts } from './receipts.ts';

export interface FetchHandlerOptions extends RequestLimits {
  /** The path the router is served under, e.g. `/api`. */
  readonly endpoint: string;
}

/**
 * A Fetch API handler (`(Request) => Promise<Response>`) for runtimes such as Deno, Bun or workers.
 * Like the Node server, it refuses a router that is not exactly the generated one, and enforces the same
 * request limits: the body is read through a bounded stream (413 past `maxBodyBytes`, 408 when it has not
 * arrived `bodyTimeoutMs` after the handler was called).
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
  if (typeof options?.endpoint !== 'string') throw new TypeError('createFetchHandler: "endpoint" is required');
  const limits = resolveRequestLimits(options, 'createFetchHandler');
  return (request) => {
    // Fetch joins repeated headers with ", ", which the bearer parser refuses: ambiguity is a 401.
    const receipts = collectReceipts(runtime.contextFromHeaders(request.headers.get('authorization')));
    return fetchRequestHandler({
      endpoint: options.endpoint,
      req: boundedRequest(request, limits),
      router,
      maxBatchSize: limits.maxBatchSize,
      createContext: () => receipts.context,
      responseMeta: () => {
        const header = receipts.header();
        return header === undefined ? {} : { headers: { [RECEIPTS_HEADER]: header } };
      },
    });
  };
}
