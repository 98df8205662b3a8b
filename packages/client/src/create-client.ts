import type { InputOf, OutputOf, Procedure } from '@covenant/contract';
import { createTRPCUntypedClient, httpBatchLink, httpLink, type HTTPLinkOptions, type TRPCLink } from '@trpc/client';
import type { AnyTRPCRouter } from '@trpc/server';
import { toCovenantError } from './client-error.ts';

export interface CovenantClientOptions {
  /** The server's base URL, e.g. `http://127.0.0.1:3000`. */
  readonly url: string;
  /**
   * Returns the current access token, or `undefined` to call anonymously. Called per request, so a
   * refreshed token is picked up. The token goes only into the Authorization header.
   */
  readonly token?: () => string | undefined | Promise<string | undefined>;
  /** Batch concurrent calls into one HTTP request (default true). */
  readonly batch?: boolean;
  /**
   * The most calls one batched request carries (default 20, the server adapters' default `maxBatchSize`):
   * more calls in the same tick are split into several requests instead of being refused as malformed.
   */
  readonly maxBatchSize?: number;
  /** A fetch implementation (defaults to the global one). */
  readonly fetch?: NonNullable<HTTPLinkOptions<{ errorShape: unknown; transformer: false }>['fetch']>;
}

export interface CallOptions {
  readonly signal?: AbortSignal;
}

export interface QueryClient<P extends Procedure> {
  query(input: InputOf<P>, options?: CallOptions): Promise<OutputOf<P>>;
}

export interface MutationClient<P extends Procedure> {
  mutate(input: InputOf<P>, options?: CallOptions): Promise<OutputOf<P>>;
}

export interface CovenantClient {
  query<P extends Procedure<'query'>>(path: string): QueryClient<P>;
  mutation<P extends Procedure<'mutation'>>(path: string): MutationClient<P>;
}

/**
 * The runtime under a generated client: tRPC's links and wire protocol, Covenant's typed errors.
 * Generated `createClient` functions call this; application code rarely needs to.
 *
 * @example
 * ```ts
 * const client = createCovenantClient({ url, token: () => auth.token });
 * const health = client.query<typeof platform.health>('platform.health');
 * await health.query({});
 * ```
 */
export function createCovenantClient(options: CovenantClientOptions): CovenantClient {
  if (typeof options?.url !== 'string') throw new TypeError('createCovenantClient: "url" is required');
  const headers = async (): Promise<Record<string, string>> => {
    const token = await options.token?.();
    return token === undefined ? {} : { authorization: `Bearer ${token}` };
  };
  const linkOptions = { url: options.url, headers, ...(options.fetch ? { fetch: options.fetch } : {}) };
  const maxItems = options.maxBatchSize ?? 20;
  if (!Number.isSafeInteger(maxItems) || maxItems < 1) throw new TypeError('createCovenantClient: "maxBatchSize" must be a positive integer');
  const link: TRPCLink<AnyTRPCRouter> = options.batch === false ? httpLink(linkOptions) : httpBatchLink({ ...linkOptions, maxItems });
  const trpc = createTRPCUntypedClient<AnyTRPCRouter>({ links: [link] });

  const call = async (kind: 'query' | 'mutation', path: string, input: unknown, callOptions?: CallOptions) => {
    try {
      const signal = callOptions?.signal;
      return await trpc[kind](path, input, signal ? { signal } : undefined);
    } catch (error) {
      throw toCovenantError(error, path);
    }
  };
  return {
    query: <P extends Procedure<'query'>>(path: string): QueryClient<P> => ({
      query: (input, callOptions) => call('query', path, input, callOptions) as Promise<OutputOf<P>>,
    }),
    mutation: <P extends Procedure<'mutation'>>(path: string): MutationClient<P> => ({
      mutate: (input, callOptions) => call('mutation', path, input, callOptions) as Promise<OutputOf<P>>,
    }),
  };
}
