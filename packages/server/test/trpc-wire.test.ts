/**
 * The Covenant wire listener against tRPC's own standalone adapter, on the same router: every request
 * shape is sent to both over real HTTP and the answers compared (status, the headers tRPC sets, body
 * byte for byte), and `@trpc/client`'s links must give deep-equal results through both. The listener
 * must also take the fast path for the common shapes (else this would only compare tRPC with itself).
 */
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createTRPCClient, httpBatchLink, httpLink, TRPCClientError } from '@trpc/client';
import { initTRPC, TRPCError } from '@trpc/server';
import { createHTTPHandler } from '@trpc/server/adapters/standalone';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as z from 'zod';
import { createTrpcWireHandler } from '../src/adapters/trpc-wire.ts';

interface Ctx {
  readonly user: string | undefined;
}

// isDev: false, so error bodies carry no stack (whose frames would differ between the two handlers).
const t = initTRPC.context<Ctx>().create({ isDev: false });
const authed = t.procedure.use(({ ctx, next }) => {
  if (ctx.user === undefined) throw new TRPCError({ code: 'UNAUTHORIZED', message: 'who are you' });
  return next({ ctx: { user: ctx.user } });
});
let created = 0;
let twiceCalls = 0;
const router = t.router({
  hello: t.procedure.query(() => ({ ok: true })),
  nothing: t.procedure.query(() => undefined),
  echo: t.procedure.input(z.object({ text: z.string().max(20) })).query(({ input }) => ({ text: input.text })),
  optional: t.procedure.input(z.object({ n: z.number() }).optional()).query(({ input }) => ({ n: input?.n ?? null })),
  whoami: authed.query(({ ctx }) => ({ user: ctx.user })),
  signal: t.procedure.query(({ signal }) => ({ hasSignal: signal instanceof AbortSignal, aborted: signal?.aborted ?? null })),
  create: t.procedure
    .input(z.strictObject({ title: z.string().min(1), priority: z.enum(['low', 'high']) }))
    .mutation(({ input }) => ({ id: ++created, ...input })),
  fail: t.procedure.input(z.object({ code: z.string() })).mutation(({ input }) => {
    if (input.code === 'conflict') throw new TRPCError({ code: 'CONFLICT', message: 'already there' });
    if (input.code === 'plain') throw new Error('kaboom');
    throw new TRPCError({ code: 'FORBIDDEN' });
  }),
  badOutput: t.procedure.output(z.object({ n: z.number() })).query(() => ({ n: 'not a number' }) as unknown as { n: number }),
  streamy: t.procedure.query(() => ({ later: Promise.resolve(1) })),
  nested: t.router({ deep: t.router({ ping: t.procedure.query(() => 'pong') }) }),
  // The middleware runner's rules (the Covenant listener runs chains itself): chained inputs merge,
  // next() may replace the raw input or the input, a middleware may call next() twice or not at all.
  merged: t.procedure.input(z.object({ a: z.string() })).input(z.object({ b: z.number() })).query(({ input }) => input),
  rawReplaced: t.procedure
    .use(({ next }) => next({ getRawInput: async () => ({ text: 'from the middleware' }) }))
    .input(z.object({ text: z.string() }))
    .query(({ input }) => input),
  inputReplaced: t.procedure
    .input(z.object({ n: z.number() }))
    .use(({ input, next }) => next({ input: { n: input.n * 2 } }))
    .query(({ input }) => input),
  twice: t.procedure
    .use(async ({ next }) => {
      const first = await next();
      const second = await next();
      return first.ok && second.ok ? second : first;
    })
    .query(() => ({ calls: ++twiceCalls })),
  noNext: t.procedure.use((() => undefined) as never).query(() => 'unreachable'),
  ctxLayers: authed
    .use(({ ctx, next }) => next({ ctx: { layer: `${ctx.user}+1` } }))
    .query(({ ctx }) => ({ user: ctx.user, layer: ctx.layer })),
  ticks: t.procedure.subscription(async function* () {
    yield 1;
  }),
});

const createContext = (req: IncomingMessage): Ctx => ({ user: req.headers['x-user'] as string | undefined });

interface Running {
  readonly url: string;
  readonly server: Server;
}

async function listen(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<Running> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

const MAX_BODY = 4096;
let trpc: Running;
let wire: Running;
let fallbacks = 0;

beforeAll(async () => {
  const options = { router, maxBodySize: MAX_BODY, maxBatchSize: 10, createContext: ({ req }: { req: IncomingMessage }) => createContext(req) };
  trpc = await listen(createHTTPHandler(options));
  const fallback = createHTTPHandler(options);
  wire = await listen(
    createTrpcWireHandler({
      router,
      basePath: '/',
      maxBodyBytes: MAX_BODY,
      maxBatchSize: 10,
      createContext,
      fallback: (req, res) => {
        fallbacks += 1;
        fallback(req, res);
      },
    }),
  );
});

afterAll(async () => {
  for (const { server } of [trpc, wire]) await new Promise<void>((resolve) => server.close(() => resolve()));
});

interface Shape {
  readonly name: string;
  readonly method: string;
  readonly path: string;
  readonly headers?: Record<string, string>;
  readonly body?: string | Uint8Array;
  /** Whether the Covenant listener should answer it itself. */
  readonly fast: boolean;
}

const q = (value: unknown): string => encodeURIComponent(JSON.stringify(value));
const json = { 'content-type': 'application/json' };

const SHAPES: ReadonlyArray<Shape> = [
  { name: 'query without input', method: 'GET', path: '/hello', fast: true },
  { name: 'query returning undefined', method: 'GET', path: '/nothing', fast: true },
  { name: 'query with input', method: 'GET', path: `/echo?input=${q({ text: 'hi' })}`, fast: true },
  { name: 'query, input failing validation', method: 'GET', path: `/echo?input=${q({ text: 'x'.repeat(30) })}`, fast: true },
  { name: 'query, input of the wrong type', method: 'GET', path: `/echo?input=${q([1, 2])}`, fast: true },
  { name: 'query, optional input absent', method: 'GET', path: '/optional', fast: true },
  { name: 'query, malformed JSON input', method: 'GET', path: '/echo?input=%7Bnope', fast: true },
  { name: 'query, empty input parameter', method: 'GET', path: '/echo?input=', fast: true },
  { name: 'query with a trailing slash', method: 'GET', path: '/hello/', fast: true },
  { name: 'nested procedure', method: 'GET', path: '/nested.deep.ping', fast: true },
  { name: 'chained inputs merge', method: 'GET', path: `/merged?input=${q({ a: 'x', b: 2 })}`, fast: true },
  { name: 'chained inputs, the second failing', method: 'GET', path: `/merged?input=${q({ a: 'x', b: 'two' })}`, fast: true },
  { name: 'a middleware replaces the raw input', method: 'GET', path: `/rawReplaced?input=${q({ text: 'sent' })}`, fast: true },
  { name: 'a middleware replaces the parsed input', method: 'GET', path: `/inputReplaced?input=${q({ n: 21 })}`, fast: true },
  { name: 'a middleware calls next() twice', method: 'GET', path: '/twice', fast: true },
  { name: 'a middleware returns without calling next() (500)', method: 'GET', path: '/noNext', fast: true },
  { name: 'contexts merge layer over layer', method: 'GET', path: '/ctxLayers', headers: { 'x-user': 'ann' }, fast: true },
  { name: 'middleware refusal (401)', method: 'GET', path: '/whoami', fast: true },
  { name: 'middleware passes', method: 'GET', path: '/whoami', headers: { 'x-user': 'ann' }, fast: true },
  { name: 'the signal reaches the resolver', method: 'GET', path: '/signal', fast: true },
  { name: 'output validation failure (500)', method: 'GET', path: '/badOutput', fast: true },
  { name: 'stream-like result in a plain request (415)', method: 'GET', path: '/streamy', fast: true },
  { name: 'query with a JSON content type', method: 'GET', path: '/hello', headers: json, fast: true },
  { name: 'mutation', method: 'POST', path: '/create', headers: json, body: JSON.stringify({ title: 'a', priority: 'low' }), fast: true },
  { name: 'mutation, content type with charset', method: 'POST', path: '/create', headers: { 'content-type': 'Application/JSON; charset=utf-8' }, body: JSON.stringify({ title: 'b', priority: 'high' }), fast: true },
  { name: 'mutation, body with a byte order mark', method: 'POST', path: '/create', headers: json, body: `\ufeff${JSON.stringify({ title: 'c', priority: 'low' })}`, fast: true },
  { name: 'mutation, unknown key (strict schema)', method: 'POST', path: '/create', headers: json, body: JSON.stringify({ title: 'a', priority: 'low', orgId: 'x' }), fast: true },
  { name: 'mutation, malformed JSON', method: 'POST', path: '/create', headers: json, body: '{"title":', fast: true },
  { name: 'mutation, invalid UTF-8', method: 'POST', path: '/create', headers: json, body: new Uint8Array([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]), fast: true },
  { name: 'mutation, empty body', method: 'POST', path: '/create', headers: json, fast: true },
  { name: 'mutation, body over the limit (413)', method: 'POST', path: '/create', headers: json, body: JSON.stringify({ title: 'x'.repeat(MAX_BODY), priority: 'low' }), fast: true },
  { name: 'mutation throwing a TRPCError', method: 'POST', path: '/fail', headers: json, body: JSON.stringify({ code: 'conflict' }), fast: true },
  { name: 'mutation throwing a plain Error', method: 'POST', path: '/fail', headers: json, body: JSON.stringify({ code: 'plain' }), fast: true },
  { name: 'mutation throwing FORBIDDEN without a message', method: 'POST', path: '/fail', headers: json, body: JSON.stringify({ code: 'x' }), fast: true },
  { name: 'batch of queries', method: 'GET', path: `/hello,echo,whoami?batch=1&input=${q({ 1: { text: 'b' } })}`, fast: true },
  { name: 'batch of queries, all failing the same way', method: 'GET', path: `/whoami,whoami?batch=1&input=${q({})}`, fast: true },
  { name: 'batch of mutations, mixed results (207)', method: 'POST', path: '/create,fail?batch=1', headers: json, body: JSON.stringify({ 0: { title: 'd', priority: 'low' }, 1: { code: 'conflict' } }), fast: true },
  { name: 'batch whose input is not an object', method: 'POST', path: '/create,create?batch=1', headers: json, body: '[1,2]', fast: true },
  { name: 'batch without input', method: 'GET', path: '/hello,hello?batch=1', fast: true },
  { name: 'batch=0 is a single call', method: 'GET', path: `/echo?batch=0&input=${q({ text: 'z' })}`, fast: true },
  // Handed to tRPC: its answers are tRPC's by construction, but the routing decision is tested here.
  { name: 'unknown procedure (404)', method: 'GET', path: '/nope', fast: false },
  { name: 'query sent as POST (405)', method: 'POST', path: '/hello', headers: json, body: '{}', fast: false },
  { name: 'mutation sent as GET (405)', method: 'GET', path: `/create?input=${q({})}`, fast: false },
  { name: 'batch over the limit', method: 'GET', path: `/${Array(11).fill('hello').join(',')}?batch=1`, fast: false },
  { name: 'batch mixing a query and a mutation', method: 'GET', path: '/hello,create?batch=1', fast: false },
  { name: 'percent-encoded path', method: 'GET', path: '/hel%6Co', fast: false },
  { name: 'dot segments in the path', method: 'GET', path: '/x/../hello', fast: false },
  { name: 'HEAD', method: 'HEAD', path: '/hello', fast: false },
  { name: 'PUT', method: 'PUT', path: '/create', headers: json, body: '{}', fast: false },
  { name: 'mutation with a text content type (415)', method: 'POST', path: '/create', headers: { 'content-type': 'text/plain' }, body: '{}', fast: false },
  { name: 'mutation without a content type', method: 'POST', path: '/create', body: '{}', fast: false },
  { name: 'streaming batch (jsonl)', method: 'GET', path: '/hello?batch=1', headers: { 'trpc-accept': 'application/jsonl' }, fast: false },
  { name: 'subscription', method: 'GET', path: '/ticks', fast: false },
  { name: 'an unknown query parameter', method: 'GET', path: '/hello?connectionParams=%7B%7D', fast: false },
  { name: 'inherited property name as a path', method: 'GET', path: '/constructor', fast: false },
  { name: 'a Host header that is not a URL host (400)', method: 'GET', path: '/hello', headers: { host: 'bad host' }, fast: false },
  { name: 'a port out of range in Host (400)', method: 'POST', path: '/create', headers: { ...json, host: '127.0.0.1:99999' }, body: JSON.stringify({ title: 'h', priority: 'low' }), fast: false },
];

/** The headers tRPC itself sets (Node adds date, connection, and length or chunking). */
const COMPARED_HEADERS = ['content-type', 'vary', 'allow'];

/** node:http rather than fetch: fetch would normalise the dot segments and percent-encoding under test. */
function send(base: string, shape: Shape): Promise<{ status: number; headers: Record<string, string | null>; body: string }> {
  return new Promise((resolve, reject) => {
    const { hostname, port } = new URL(base);
    const options = { hostname, port, path: shape.path, method: shape.method, headers: shape.headers ?? {} };
    const req = request(options, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const headers: Record<string, string | null> = {};
        for (const name of COMPARED_HEADERS) {
          const value = res.headers[name];
          headers[name] = value === undefined ? null : String(value);
        }
        resolve({ status: res.statusCode ?? 0, headers, body: Buffer.concat(chunks).toString('utf8') });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(shape.body);
  });
}

describe('the Covenant wire listener answers exactly as tRPC does', () => {
  for (const shape of SHAPES) {
    it(`${shape.name} (${shape.fast ? 'fast path' : 'handed to tRPC'})`, async () => {
      const before = fallbacks;
      const fromTrpc = await send(trpc.url, shape);
      const fromWire = await send(wire.url, shape);
      expect(fallbacks - before, 'fallback count').toBe(shape.fast ? 0 : 1);
      // `create` numbers its results: the two servers share the counter, so compare without it.
      const normalise = (body: string): string => body.replace(/"id":\d+/g, '"id":N').replace(/"calls":\d+/g, '"calls":N');
      expect({ ...fromWire, body: normalise(fromWire.body) }).toEqual({ ...fromTrpc, body: normalise(fromTrpc.body) });
    });
  }

  it('answers a body over the limit with 413 without reading it all', async () => {
    const body = JSON.stringify({ title: 'x'.repeat(MAX_BODY * 4), priority: 'low' });
    const response = await fetch(`${wire.url}/create`, { method: 'POST', headers: json, body });
    expect(response.status).toBe(413);
    expect(JSON.parse(await response.text()).error.data.code).toBe('PAYLOAD_TOO_LARGE');
  });

  it('runs the rest of the chain once per next() call, as tRPC does', async () => {
    const before = twiceCalls;
    const response = await fetch(`${wire.url}/twice`);
    expect(response.status).toBe(200);
    expect(twiceCalls - before).toBe(2);
  });

  it('does not read the body of a call refused before it asks for its input', async () => {
    const response = await fetch(`${wire.url}/whoami,whoami?batch=1`, { headers: json });
    expect(response.status).toBe(401);
  });
});

describe("@trpc/client's links give the same results through both handlers", () => {
  type Client = ReturnType<typeof createTRPCClient<typeof router>>;
  const clients = (base: string, user?: string): { single: Client; batch: Client } => {
    const headers = user === undefined ? {} : { 'x-user': user };
    return {
      single: createTRPCClient<typeof router>({ links: [httpLink({ url: base, headers })] }),
      batch: createTRPCClient<typeof router>({ links: [httpBatchLink({ url: base, headers })] }),
    };
  };

  const outcome = async (call: () => Promise<unknown>): Promise<unknown> => {
    try {
      return { ok: await call() };
    } catch (error) {
      if (!(error instanceof TRPCClientError)) throw error;
      return { error: { message: error.message, shape: error.shape, data: error.data } };
    }
  };

  const scenario = async (client: Client): Promise<unknown[]> => {
    const calls = [
      () => client.hello.query(),
      () => client.echo.query({ text: 'linked' }),
      () => client.echo.query({ text: 'x'.repeat(40) }),
      () => client.whoami.query(),
      () => client.nested.deep.ping.query(),
      () => client.create.mutate({ title: 'link', priority: 'high' }),
      () => client.fail.mutate({ code: 'conflict' }),
      () => client.fail.mutate({ code: 'plain' }),
      () => client.badOutput.query(),
    ];
    // Concurrently, so httpBatchLink batches them.
    const results = await Promise.all(calls.map((call) => outcome(call)));
    return JSON.parse(JSON.stringify(results).replace(/"id":\d+/g, '"id":"N"')) as unknown[];
  };

  for (const link of ['single', 'batch'] as const) {
    for (const user of [undefined, 'ann']) {
      it(`${link === 'single' ? 'httpLink' : 'httpBatchLink'}, ${user === undefined ? 'anonymous' : 'signed in'}`, async () => {
        const before = fallbacks;
        const fromTrpc = await scenario(clients(trpc.url, user)[link]);
        const fromWire = await scenario(clients(wire.url, user)[link]);
        expect(fromWire).toEqual(fromTrpc);
        expect(fallbacks - before).toBe(0);
        // Not vacuous: the scenario has successes and failures.
        expect(fromWire.some((r) => 'ok' in (r as object))).toBe(true);
        expect(fromWire.some((r) => 'error' in (r as object))).toBe(true);
      });
    }
  }
});
