import type { IncomingMessage, ServerResponse } from 'node:http';
import { TRPCError, type AnyTRPCRouter } from '@trpc/server';
import type { TRPCResponse } from '@trpc/server/rpc';
import {
  getErrorShape,
  getHTTPStatusCode,
  getTRPCErrorFromUnknown,
  isAsyncIterable,
  isObject,
  isPromise,
  middlewareMarker,
  transformTRPCResponse,
  type AnyProcedure,
  type ProcedureType,
} from '@trpc/server/unstable-core-do-not-import';

/**
 * A Node request listener that speaks tRPC's HTTP wire protocol for the common requests and hands
 * every other request, unread, to tRPC's own handler.
 *
 * Why: tRPC's Node adapter turns each request into a Fetch `Request` and each answer into a `Response`
 * with web streams; on these machines that is ~100–250 µs of CPU per call, against a few µs for the
 * procedure itself. This listener calls the router's procedures exactly as tRPC's `resolveResponse`
 * does (same call options, so middleware, input and output validation run unchanged) and builds the
 * answer with tRPC's own helpers (`getErrorShape`, `transformTRPCResponse`, `getHTTPStatusCode`), so
 * bodies, error shapes and status codes are tRPC's. A differential test runs `@trpc/client`'s links
 * and raw requests against both handlers and compares every response.
 *
 * The fast path takes: GET queries and POST mutations with a JSON body (or none), single or
 * `?batch=1`, on paths of plain characters that are procedures of the router (not lazy), with no
 * query parameter besides `input` and `batch`. Everything else — HEAD, other methods, streaming
 * (`trpc-accept: application/jsonl`), subscriptions, form data, octet streams, unknown paths, wrong
 * methods (405), oversized batches, percent-encoded or dot-segment paths, a Host header that is not a
 * URL host (tRPC's 400) — goes to tRPC.
 *
 * It also runs each procedure's middleware chain itself (`runProcedure`): the same middlewares, in the
 * same order, with the same options, but without tRPC's object-spread helper at every level.
 *
 * Differences from tRPC's adapter, by design: bodies are sent with `content-length` rather than
 * chunked; `responseMeta` is not supported (the options do not take it).
 */
export interface TrpcWireHandlerOptions {
  readonly router: AnyTRPCRouter;
  /** The request's context, as tRPC's `createContext` would build it. */
  readonly createContext: (req: IncomingMessage) => unknown;
  /**
   * tRPC's own listener (`createHTTPHandler` with the same router, base path and limits), for everything
   * off the fast path. Options only it knows (`onError`, `responseMeta`, `allowBatching: false`,
   * `allowMethodOverride`) do not apply to the requests answered here: leave them unset, or use tRPC's
   * listener alone.
   */
  readonly fallback: (req: IncomingMessage, res: ServerResponse) => void;
  /**
   * Headers to add to an answer, from the request's context, once every call has settled (what tRPC's
   * `responseMeta` would add for the same request; the Covenant adapter adds its receipts header this way).
   */
  readonly responseHeaders?: (ctx: unknown) => Readonly<Record<string, string>> | undefined;
  /** Path prefix (as tRPC's standalone `basePath`). */
  readonly basePath: string;
  readonly maxBodyBytes: number;
  readonly maxBatchSize: number;
}

type Listener = (req: IncomingMessage, res: ServerResponse) => void;

/** One call of a request, as tRPC's content-type handler describes it. */
interface WireCall {
  readonly path: string;
  readonly procedure: AnyProcedure;
  readonly batchIndex: number;
}

const MAX_REMEMBERED_HOSTS = 256;

/** A path tRPC's URL parsing leaves as it is: no percent-encoding, no dot segments, no empty segments. */
const PLAIN_PATH = /^(?:\/[A-Za-z0-9_,-][A-Za-z0-9_.,-]*)*\/?$/;

export function createTrpcWireHandler(options: TrpcWireHandlerOptions): Listener {
  const { router, fallback, maxBodyBytes, maxBatchSize } = options;
  const config = router._def._config;
  const procedures = router._def.procedures as Record<string, AnyProcedure | undefined>;
  const prefix = trimSlashes(options.basePath);
  const hostValidity = new Map<string, boolean>();

  return function covenantWire(req, res) {
    const calls = fastPathCalls(req);
    if (calls === undefined) {
      fallback(req, res);
      return;
    }
    serve(req, res, calls.calls, calls.isBatch, calls.query).catch((error: unknown) => answerFault(res, error));
  };

  /** The calls of a request the fast path takes, or `undefined` to hand it to tRPC. Reads no body. */
  function fastPathCalls(
    req: IncomingMessage,
  ): { calls: WireCall[]; isBatch: boolean; query: URLSearchParams | undefined } | undefined {
    const method = req.method;
    if (method !== 'GET' && method !== 'POST') return undefined;
    const url = req.url;
    if (url === undefined || url.charCodeAt(0) !== 0x2f /* / */ || url.charCodeAt(1) === 0x2f) return undefined;
    const headers = req.headers;
    if (!isValidHost(headers.host)) return undefined;
    if (headers['trpc-accept'] !== undefined || headers['last-event-id'] !== undefined) return undefined;
    const accept = headers.accept;
    if (accept !== undefined && accept.includes('application/jsonl')) return undefined;
    const contentType = headers['content-type'];
    if (method === 'POST' ? !isJson(contentType) : contentType !== undefined && !isJson(contentType)) return undefined;

    const q = url.indexOf('?');
    const pathname = q === -1 ? url : url.slice(0, q);
    if (!PLAIN_PATH.test(pathname)) return undefined;
    let query: URLSearchParams | undefined;
    if (q !== -1) {
      const search = url.slice(q + 1);
      if (search.includes('#')) return undefined;
      query = new URLSearchParams(search);
      for (const key of query.keys()) if (key !== 'input' && key !== 'batch') return undefined;
    }
    const trimmed = trimSlashes(pathname);
    if (!trimmed.startsWith(prefix)) return undefined;
    const path = trimSlashes(trimmed.slice(prefix.length));

    const isBatch = query?.get('batch') === '1';
    const paths = isBatch ? path.split(',') : [path];
    if (isBatch && paths.length > maxBatchSize) return undefined;
    const type: ProcedureType = method === 'GET' ? 'query' : 'mutation';
    const calls: WireCall[] = [];
    for (let i = 0; i < paths.length; i += 1) {
      const name = paths[i]!;
      const procedure = Object.hasOwn(procedures, name) ? procedures[name] : undefined;
      if (procedure === undefined || procedure._def.type !== type) return undefined;
      calls.push({ path: name, procedure, batchIndex: i });
    }
    return { calls, isBatch, query };
  }

  /**
   * tRPC builds the request URL on `http://<Host>` and refuses the request (400) when that is not a URL;
   * such requests go to tRPC. A server sees few distinct hosts: the answers are remembered, up to a bound.
   */
  function isValidHost(host: string | undefined): boolean {
    if (host === undefined) return true; // tRPC falls back to `localhost`
    let valid = hostValidity.get(host);
    if (valid === undefined) {
      valid = URL.canParse(`http://${host}`);
      if (hostValidity.size < MAX_REMEMBERED_HOSTS) hostValidity.set(host, valid);
    }
    return valid;
  }

  async function serve(
    req: IncomingMessage,
    res: ServerResponse,
    calls: ReadonlyArray<WireCall>,
    isBatch: boolean,
    query: URLSearchParams | undefined,
  ): Promise<void> {
    // tRPC reads and parses the inputs lazily, once, on the first getRawInput; a failure (bad JSON,
    // oversized body) becomes the error of every call that asks.
    const source = req.method === 'GET' ? Promise.resolve(query?.get('input') ?? '') : readBody(req, maxBodyBytes);
    // A call refused before it asks for its input never reads this failure; it is not unhandled.
    source.catch(() => undefined);
    let inputs: Promise<Record<number, unknown>> | undefined;
    let parsed: Record<number, unknown> | undefined;
    const readInputs = (): Promise<Record<number, unknown>> =>
      (inputs ??= source
        .then((text) => {
          parsed = parseInputs(text, calls.length, isBatch);
          return parsed;
        })
        .catch((cause: unknown) => {
          // tRPC's memo: anything but a TRPCError (a JSON syntax error …) is a BAD_REQUEST.
          if (cause instanceof TRPCError) throw cause;
          throw new TRPCError({ code: 'BAD_REQUEST', message: cause instanceof Error ? cause.message : 'Invalid input', cause });
        }));

    const abort = new AbortController();
    const onClose = (): void => {
      if (!res.writableFinished) abort.abort();
    };
    res.once('close', onClose);

    let ctx: unknown;
    let ctxError: TRPCError | undefined;
    try {
      ctx = await options.createContext(req);
    } catch (cause) {
      ctxError = getTRPCErrorFromUnknown(cause);
    }

    const settled = await Promise.all(
      calls.map(async (call): Promise<[TRPCError, undefined, boolean] | [undefined, unknown, false]> => {
        try {
          if (ctxError !== undefined) throw ctxError;
          const data: unknown = await runProcedure(call.procedure, {
            path: call.path,
            getRawInput: async () => (await readInputs())[call.batchIndex],
            ctx,
            type: call.procedure._def.type,
            signal: abort.signal,
            batchIndex: call.batchIndex,
          });
          if (isDataStream(data)) {
            return [
              new TRPCError({
                code: 'UNSUPPORTED_MEDIA_TYPE',
                message: 'Cannot use stream-like response in non-streaming request - use httpBatchStreamLink',
              }),
              undefined,
              true,
            ];
          }
          return [undefined, data, false];
        } catch (cause) {
          return [getTRPCErrorFromUnknown(cause), undefined, false];
        }
      }),
    );

    const errors: Array<TRPCError | undefined> = [];
    const responses: TRPCResponse[] = settled.map(([error, data, streamLike], index) => {
      errors.push(error);
      if (error === undefined) return { result: { data } };
      const call = calls[index]!;
      // tRPC refuses a stream-like result of a single call outside the call (no path, no input).
      const outside = streamLike && !isBatch;
      return {
        error: getErrorShape({
          config,
          ctx,
          error,
          input: outside ? undefined : parsed?.[call.batchIndex],
          path: outside ? undefined : call.path,
          type: call.procedure._def.type,
        }),
      };
    });
    const status = getHTTPStatusCode(responses, errors);
    const body = JSON.stringify(transformTRPCResponse(config, isBatch ? responses : responses[0]!));
    res.off('close', onClose);
    if (res.destroyed) return;
    res.writeHead(status, {
      vary: 'trpc-accept, accept',
      'content-type': 'application/json',
      ...options.responseHeaders?.(ctx),
      'content-length': Buffer.byteLength(body),
    });
    res.end(body);
  }

  function parseInputs(text: string, count: number, isBatch: boolean): Record<number, unknown> {
    const result: Record<number, unknown> = Object.create(null) as Record<number, unknown>;
    if (text === '') return result;
    const inputs: unknown = JSON.parse(text);
    if (!isBatch) {
      result[0] = config.transformer.input.deserialize(inputs);
      return result;
    }
    if (!isObject(inputs)) {
      throw new TRPCError({ code: 'BAD_REQUEST', message: '"input" needs to be an object when doing a batch call' });
    }
    for (let index = 0; index < count; index += 1) {
      const input = (inputs as Record<number, unknown>)[index];
      if (input !== undefined) result[index] = config.transformer.input.deserialize(input);
    }
    return result;
  }

  /** A fault of this listener itself (never of a procedure: those are answered above). */
  function answerFault(res: ServerResponse, cause: unknown): void {
    if (res.headersSent || res.destroyed) {
      res.destroy();
      return;
    }
    const error = getTRPCErrorFromUnknown(cause);
    let shape: unknown;
    try {
      shape = getErrorShape({ config, error, type: 'unknown', path: undefined, input: undefined, ctx: undefined });
    } catch {
      shape = {
        code: -32603,
        message: 'Internal server error',
        data: { code: 'INTERNAL_SERVER_ERROR', httpStatus: 500 },
      };
    }
    const body = JSON.stringify(transformTRPCResponse(config, { error: shape } as TRPCResponse));
    res.writeHead(500, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  }
}

/**
 * Reads a request body as UTF-8 text, as Fetch's `Request.text()` would (invalid sequences become
 * U+FFFD), refusing more than `limit` bytes with tRPC's PAYLOAD_TOO_LARGE. The refusal stops reading;
 * the error surfaces when a procedure asks for its input, as in tRPC.
 */
function readBody(req: IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        cleanup();
        reject(new TRPCError({ code: 'PAYLOAD_TOO_LARGE' }));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      cleanup();
      const text = chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks).toString('utf8');
      // Fetch's UTF-8 decoding drops one leading byte order mark; Buffer's does not.
      resolve(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
    };
    const onError = (error: Error): void => {
      cleanup();
      // The connection went away before the body ended: the client closed it, or Node did after
      // answering 408 (requestTimeout). Either way no call of this request can be answered any more.
      reject(new TRPCError({ code: 'CLIENT_CLOSED_REQUEST', cause: error }));
    };
    const cleanup = (): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
  });
}

/** tRPC's content-type rule: the media type, lower-cased, before any parameter. */
function isJson(contentType: string | undefined): boolean {
  if (contentType === undefined) return false;
  return contentType.toLowerCase().split(';', 1)[0]!.trim() === 'application/json';
}

function trimSlashes(path: string): string {
  let result = path.startsWith('/') ? path.slice(1) : path;
  result = result.endsWith('/') ? result.slice(0, -1) : result;
  return result;
}

/** tRPC's rule (resolveResponse's isDataStream), with its own predicates: a stream-like result is refused. */
function isDataStream(value: unknown): boolean {
  if (!isObject(value)) return false;
  if (isAsyncIterable(value)) return true;
  const items = Object.values(value);
  return items.some(isPromise) || items.some(isAsyncIterable);
}

/** The options tRPC passes a procedure (`ProcedureCallOptions`), which its middleware runner extends per level. */
interface CallOptions {
  readonly path: string;
  readonly getRawInput: () => Promise<unknown>;
  readonly ctx: unknown;
  readonly type: ProcedureType;
  readonly signal: AbortSignal | undefined;
  readonly batchIndex: number;
  readonly input?: unknown;
}

type ChainResult =
  | { readonly ok: true; readonly data: unknown; readonly marker: string }
  | { readonly ok: false; readonly error: TRPCError; readonly marker: string };

interface NextOptions {
  readonly ctx?: object;
  readonly input?: unknown;
  readonly getRawInput?: () => Promise<unknown>;
}

type ChainMiddleware = (opts: CallOptions & { readonly meta: unknown; next(opts?: NextOptions): Promise<ChainResult> }) => Promise<ChainResult>;

interface ChainDefinition {
  readonly middlewares: ReadonlyArray<ChainMiddleware>;
  readonly meta: unknown;
  readonly caller?: unknown;
}

/**
 * Calls a procedure as tRPC's `createProcedureCaller` does, running its middleware chain the way tRPC's
 * `callRecursive` does: each middleware gets the call options plus `meta`, `input` and `next`; `next(opts)`
 * merges `opts.ctx` over the context and replaces `input` / `getRawInput` when given; a throw anywhere is
 * `{ ok: false, error }` at that level. Why: tRPC builds every level's options with a generic
 * object-spread helper (property descriptors, symbol keys), which measured about a fifth of a secured
 * query's CPU with Covenant's nine levels; object literals cost a fraction of that. The middlewares are
 * the procedure's own (Covenant's steps, input and output validation, the resolver), so the pipeline is
 * unchanged; the differential tests compare the two handlers on every shape. A procedure with a custom
 * caller (`experimental_caller`) is called as tRPC would.
 */
async function runProcedure(procedure: AnyProcedure, opts: CallOptions): Promise<unknown> {
  const def = procedure._def as unknown as ChainDefinition;
  if (def.caller !== undefined && def.caller !== null) return procedure(opts);
  const result = await runChain(def, 0, opts);
  if (!result) {
    throw new TRPCError({ code: 'INTERNAL_SERVER_ERROR', message: 'No result from middlewares - did you forget to `return next()`?' });
  }
  if (!result.ok) throw result.error;
  return result.data;
}

async function runChain(def: ChainDefinition, index: number, opts: CallOptions): Promise<ChainResult> {
  try {
    const middleware = def.middlewares[index]!;
    return await middleware({
      path: opts.path,
      getRawInput: opts.getRawInput,
      ctx: opts.ctx,
      type: opts.type,
      signal: opts.signal,
      batchIndex: opts.batchIndex,
      meta: def.meta,
      input: opts.input,
      next(next?: NextOptions): Promise<ChainResult> {
        return runChain(def, index + 1, {
          path: opts.path,
          getRawInput: next?.getRawInput ?? opts.getRawInput,
          ctx: next?.ctx ? { ...(opts.ctx as object), ...next.ctx } : opts.ctx,
          type: opts.type,
          signal: opts.signal,
          batchIndex: opts.batchIndex,
          input: next !== undefined && next !== null && 'input' in next ? next.input : opts.input,
        });
      },
    });
  } catch (cause) {
    return { ok: false, error: getTRPCErrorFromUnknown(cause), marker: middlewareMarker };
  }
}
