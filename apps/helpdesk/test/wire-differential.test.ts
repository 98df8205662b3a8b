/**
 * The Covenant wire listener (`transport: 'covenant'`, the default of `createHttpServer`) against tRPC's
 * standalone adapter (`transport: 'trpc'`) on the real Covenant pipeline: the generated fixture router
 * (authentication, capability and resource checks, tenancy-key refusal, raw-input bounds, input
 * validation, declared errors, audit before action). Both servers run over the SAME runtime and router;
 * every request shape is sent to each over real HTTP and the answers are compared (status, the headers
 * tRPC sets, the body), together with the side effects of the call (handlers run, audit records, the
 * store, the server log). The fixture's generated client (tRPC's links) must also see deep-equal results.
 *
 * packages/server/test/trpc-wire.test.ts proves the same on a bare tRPC router; this file proves it on
 * the pipeline a Covenant service actually serves.
 */
import { request, type IncomingHttpHeaders, type OutgoingHttpHeaders, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isCovenantError } from '@covenant/client';
import { createHttpServer } from '@covenant/server';
import { createClient } from './fixtures/generated/client.ts';
import { startFixtureServer, type FixtureServer, type StoredTicket } from './harness.ts';

type Transport = 'covenant' | 'trpc';

interface Running {
  readonly server: Server;
  readonly port: number;
  readonly url: string;
}

let fixture: FixtureServer;
const servers = {} as Record<Transport, Running>;

/** Tokens are minted once; shapes name them, so the shape table can be built synchronously. */
type TokenName = 'alice' | 'bob' | 'carol' | 'mallory' | 'expired' | 'wrongKey' | 'algNone' | 'wrongAudience';
const tokens = {} as Record<TokenName, string>;

/** The store every exchange starts from (reset before each request, so both transports see the same). */
const SEED: ReadonlyArray<StoredTicket> = [
  { id: 't1', title: 'printer', requesterEmail: 'p@example.com', org: 'org_a' },
  { id: 't2', title: 'scanner', requesterEmail: 's@example.com', org: 'org_a' },
  { id: 't3', title: 'vpn', requesterEmail: 'v@example.com', org: 'org_b' },
];

async function listen(transport: Transport): Promise<Running> {
  const server =
    transport === 'trpc'
      ? createHttpServer(fixture.runtime, fixture.router, { transport: 'trpc' })
      : createHttpServer(fixture.runtime, fixture.router);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return { server, port, url: `http://127.0.0.1:${port}` };
}

beforeAll(async () => {
  // The harness also starts a server of its own (default transport) on the same runtime: unused here.
  fixture = await startFixtureServer();
  servers.covenant = await listen('covenant');
  servers.trpc = await listen('trpc');
  const alice = { sub: 'alice', org: 'org_a', sid: 'sess-alice' };
  tokens.alice = await fixture.issuer.mint(alice);
  tokens.bob = await fixture.issuer.mint({ sub: 'bob', org: 'org_a' });
  tokens.carol = await fixture.issuer.mint({ sub: 'carol', org: 'org_a' });
  tokens.mallory = await fixture.issuer.mint({ sub: 'mallory', org: 'org_b' });
  tokens.expired = await fixture.issuer.forge.expired(alice);
  tokens.wrongKey = await fixture.issuer.forge.wrongKey(alice);
  tokens.algNone = await fixture.issuer.forge.algNone(alice);
  tokens.wrongAudience = await fixture.issuer.forge.wrongAudience(alice);
});

afterAll(async () => {
  for (const { server } of Object.values(servers)) await new Promise<void>((resolve) => server.close(() => resolve()));
  await fixture?.close();
});

// ---------------------------------------------------------------------------------------------------
// Sending one request shape and observing everything it did

interface Shape {
  readonly name: string;
  readonly method: string;
  /** Sent as is (node:http, not a URL string: no normalisation of dot segments or percent-encoding). */
  readonly path: string;
  /** A minted token (sent as `Bearer …`), several (one Authorization header each), or a raw header value. */
  readonly auth?: TokenName | { readonly raw: string } | ReadonlyArray<TokenName>;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string | Uint8Array;
  /** Whether Covenant's listener answers it itself (false: it hands the request to tRPC's adapter). */
  readonly fast: boolean;
  /** The answer both transports must give: its status and error code(s) (`null`: a result). */
  readonly expect: { readonly status: number; readonly codes: ReadonlyArray<string | null> };
  /** The handlers that must have run (fixture.calls); `{}`: none. */
  readonly ran: Readonly<Record<string, number>>;
  /** Audit records, in order (`denial`, `intent`, `outcome:ok`, `outcome:failed`); default none. */
  readonly audit?: ReadonlyArray<string>;
  /** Extra checks of the (tRPC) body, so the comparison cannot pass on two equally wrong answers. */
  readonly check?: (body: any) => void;
}

interface Observed {
  readonly status: number;
  /** The headers tRPC itself sets (Node adds date, connection, and length or chunking). */
  readonly headers: Record<string, string | null>;
  readonly body: string;
  /** Handler calls, audit records, the store and log entries after the request. */
  readonly calls: Record<string, number>;
  readonly audit: unknown[];
  readonly store: StoredTicket[];
  readonly logs: unknown[];
  /** Not compared: how the body was framed (Covenant's listener sends content-length, tRPC chunks). */
  readonly framing: { readonly contentLength: string | null; readonly transferEncoding: string | null; readonly bytes: number };
}

const COMPARED_HEADERS = ['content-type', 'vary', 'allow'] as const;

function authorizationOf(auth: Shape['auth']): string | string[] | undefined {
  if (auth === undefined) return undefined;
  if (typeof auth === 'string') return `Bearer ${tokens[auth as TokenName]}`;
  if ('raw' in auth) return auth.raw;
  // An array value makes node:http send one Authorization header per item.
  return (auth as ReadonlyArray<TokenName>).map((name) => `Bearer ${tokens[name]}`);
}

function send(
  port: number,
  shape: Pick<Shape, 'method' | 'path' | 'auth' | 'headers' | 'body'>,
): Promise<{ status: number; headers: IncomingHttpHeaders; body: string; bytes: number }> {
  return new Promise((resolve, reject) => {
    const authorization = authorizationOf(shape.auth);
    // An array value for Authorization: node:http's typings say string, its runtime sends one line each.
    const headers = { ...shape.headers, ...(authorization === undefined ? {} : { authorization }) } as OutgoingHttpHeaders;
    let answered = false;
    // A fresh connection per request: nothing of one exchange (an unread body) leaks into the next.
    const req = request({ host: '127.0.0.1', port, path: shape.path, method: shape.method, headers, agent: false }, (res) => {
      answered = true;
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const raw = Buffer.concat(chunks);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: raw.toString('utf8'), bytes: raw.length });
      });
      res.on('error', reject);
    });
    // A server may answer (413) and close before an oversized body is fully written: the answer counts.
    req.on('error', (error) => {
      if (!answered) reject(error);
    });
    req.end(shape.body === undefined ? undefined : Buffer.from(shape.body));
  });
}

function resetState(): void {
  fixture.store.length = 0;
  fixture.store.push(...SEED.map((ticket) => ({ ...ticket })));
  for (const key of Object.keys(fixture.calls)) delete fixture.calls[key];
  fixture.audit.clear();
  fixture.logs.length = 0;
}

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;

/**
 * Runs one request against a transport from the seeded state and observes it.
 *
 * Normalisation, and why: every call gets a random request id (`randomUUID` in the first pipeline step),
 * carried by its wire error, its audit records and its log lines, so the two transports can never agree
 * on the values. Each id is replaced by the order of its first appearance (body first, then audit, then
 * log), which keeps the relations — the id a client is shown is the one audited and logged — comparable.
 * In a batch the calls run concurrently, and the order in which their audit records and log lines
 * interleave is scheduling, not protocol: there, ids not shown in the body become `<unlisted>` and the
 * records are compared as sorted lists. Audit and log timestamps (the clock) are dropped. Ids created by
 * the store (t4 …) need no normalisation: the store is reset to the same seed before every request, so a
 * mutation creates the same id on both transports, and the test asserts that it does.
 */
async function exchange(transport: Transport, shape: Shape): Promise<Observed> {
  resetState();
  const answer = await send(servers[transport].port, shape);
  const isBatch = /[?&]batch=1(?:&|$)/.test(shape.path);
  const ids = new Map<string, string>();
  const number = (text: string, assign: boolean): string =>
    text.replace(UUID, (id) => {
      const known = ids.get(id);
      if (known !== undefined) return known;
      if (!assign) return '<unlisted>';
      const label = `<request ${ids.size + 1}>`;
      ids.set(id, label);
      return label;
    });
  const body = number(answer.body, true);
  const audit = fixture.audit.events.map((event) => {
    const { at: _at, ...rest } = ('intent' in event ? event.intent : 'denial' in event ? event.denial : {}) as { at?: unknown };
    const plain = event.type === 'outcome' ? event : { type: event.type, record: rest };
    return JSON.parse(number(JSON.stringify(plain), !isBatch)) as unknown;
  });
  const logs = fixture.logs.map((line) => {
    const { time: _time, pid: _pid, hostname: _hostname, err, ...rest } = JSON.parse(line) as Record<string, unknown>;
    // An error's stack names the frames of the transport that ran it: keep its type and message only.
    const error = err as { type?: unknown; message?: unknown } | undefined;
    const entry = error === undefined ? rest : { ...rest, err: { type: error.type, message: error.message } };
    return JSON.parse(number(JSON.stringify(entry), !isBatch)) as unknown;
  });
  const sorted = (items: unknown[]): unknown[] =>
    isBatch ? items.map((item) => JSON.stringify(item)).sort().map((text) => JSON.parse(text) as unknown) : items;
  const headers: Record<string, string | null> = {};
  for (const name of COMPARED_HEADERS) {
    const value = answer.headers[name];
    headers[name] = value === undefined ? null : String(value);
  }
  return {
    status: answer.status,
    headers,
    body,
    calls: { ...fixture.calls },
    audit: sorted(audit),
    store: fixture.store.map((ticket) => ({ ...ticket })),
    logs: sorted(logs),
    framing: {
      contentLength: answer.headers['content-length'] ?? null,
      transferEncoding: answer.headers['transfer-encoding'] ?? null,
      bytes: answer.bytes,
    },
  };
}

/** The error codes of an answer, per call: `null` for a result. */
function codesOf(text: string): Array<string | null> {
  const parsed = JSON.parse(text) as unknown;
  const responses = Array.isArray(parsed) ? parsed : [parsed];
  return responses.map((response: { error?: { data?: { code?: string } } }) => response.error?.data?.code ?? null);
}

function auditKinds(audit: unknown[]): string[] {
  return (audit as Array<{ type: string; ok?: boolean }>).map((event) =>
    event.type === 'outcome' ? `outcome:${event.ok === true ? 'ok' : 'failed'}` : event.type,
  );
}

// ---------------------------------------------------------------------------------------------------
// The shapes

/** JSON in a query parameter, percent-encoded as tRPC's links do. */
const q = (value: unknown): string => encodeURIComponent(JSON.stringify(value));
const json = { 'content-type': 'application/json' };
const ticket = (id: string, title: string, requesterEmail: string, org = 'org_a') => ({ id, title, requesterEmail, org });
const valid = { title: 'new ticket', requesterEmail: 'n@example.com' };
/** `n` nested arrays: the innermost sits at depth `n` of an object holding the outermost. */
const nested = (n: number): string => `${'['.repeat(n)}${']'.repeat(n)}`;
const MAX_BODY = 1024 * 1024;

const SHAPES: ReadonlyArray<Shape> = [
  // --- authentication
  {
    name: 'public query (sanctioned requireAuth: false) without a token',
    method: 'GET', path: `/tickets.status?input=${q({})}`, fast: true,
    expect: { status: 200, codes: [null] }, ran: { status: 1 },
    check: (body) => expect(body).toEqual({ result: { data: { open: true } } }),
  },
  {
    name: 'public query without any input parameter (the schema wants an object)',
    method: 'GET', path: '/tickets.status', fast: true,
    expect: { status: 400, codes: ['ERR_INPUT_INVALID'] }, ran: {},
  },
  {
    name: 'public query with an expired token (a present token must verify)',
    method: 'GET', path: `/tickets.status?input=${q({})}`, auth: 'expired', fast: true,
    expect: { status: 401, codes: ['ERR_IDENTITY_TOKEN_EXPIRED'] }, ran: {},
  },
  { name: 'query without a token', method: 'GET', path: `/tickets.list?input=${q({})}`, fast: true, expect: { status: 401, codes: ['ERR_IDENTITY_TOKEN_MISSING'] }, ran: {} },
  { name: 'mutation without a token', method: 'POST', path: '/tickets.create', headers: json, body: JSON.stringify(valid), fast: true, expect: { status: 401, codes: ['ERR_IDENTITY_TOKEN_MISSING'] }, ran: {} },
  { name: 'query with a malformed token', method: 'GET', path: `/tickets.list?input=${q({})}`, auth: { raw: 'Bearer not.a.jwt' }, fast: true, expect: { status: 401, codes: ['ERR_IDENTITY_TOKEN_INVALID'] }, ran: {} },
  { name: 'query with another auth scheme', method: 'GET', path: `/tickets.list?input=${q({})}`, auth: { raw: 'Basic YWxpY2U6c2VjcmV0' }, fast: true, expect: { status: 401, codes: ['ERR_IDENTITY_TOKEN_INVALID'] }, ran: {} },
  { name: 'query with an expired token', method: 'GET', path: `/tickets.list?input=${q({})}`, auth: 'expired', fast: true, expect: { status: 401, codes: ['ERR_IDENTITY_TOKEN_EXPIRED'] }, ran: {} },
  { name: 'query with a token signed by the wrong key (forged)', method: 'GET', path: `/tickets.list?input=${q({})}`, auth: 'wrongKey', fast: true, expect: { status: 401, codes: ['ERR_IDENTITY_TOKEN_INVALID'] }, ran: {} },
  { name: 'query with an alg:none token', method: 'GET', path: `/tickets.list?input=${q({})}`, auth: 'algNone', fast: true, expect: { status: 401, codes: ['ERR_IDENTITY_TOKEN_INVALID'] }, ran: {} },
  { name: 'mutation with a token signed by the wrong key (forged)', method: 'POST', path: '/tickets.create', auth: 'wrongKey', headers: json, body: JSON.stringify(valid), fast: true, expect: { status: 401, codes: ['ERR_IDENTITY_TOKEN_INVALID'] }, ran: {} },
  { name: 'mutation with a token for another audience', method: 'POST', path: '/tickets.create', auth: 'wrongAudience', headers: json, body: JSON.stringify(valid), fast: true, expect: { status: 401, codes: ['ERR_IDENTITY_TOKEN_INVALID'] }, ran: {} },
  { name: 'query with two Authorization headers (both valid)', method: 'GET', path: `/tickets.list?input=${q({})}`, auth: ['alice', 'alice'], fast: true, expect: { status: 401, codes: ['ERR_IDENTITY_TOKEN_INVALID'] }, ran: {} },
  { name: 'mutation with two Authorization headers (both valid)', method: 'POST', path: '/tickets.create', auth: ['alice', 'alice'], headers: json, body: JSON.stringify(valid), fast: true, expect: { status: 401, codes: ['ERR_IDENTITY_TOKEN_INVALID'] }, ran: {} },
  { name: 'public query with two Authorization headers', method: 'GET', path: '/tickets.status', auth: ['alice', 'bob'], fast: true, expect: { status: 401, codes: ['ERR_IDENTITY_TOKEN_INVALID'] }, ran: {} },
  {
    name: 'any-principal query as a principal without grants',
    method: 'GET', path: `/tickets.mine?input=${q({})}`, auth: 'carol', fast: true,
    expect: { status: 200, codes: [null] }, ran: { mine: 1 },
    check: (body) => expect(body.result.data).toEqual({ subject: 'carol', org: 'org_a' }),
  },

  // --- authorization
  {
    name: 'mutation by a principal without the capability (403, denial recorded)',
    method: 'POST', path: '/tickets.create', auth: 'carol', headers: json, body: JSON.stringify(valid), fast: true,
    expect: { status: 403, codes: ['ERR_AUTHZ_DENIED'] }, ran: {}, audit: ['denial'],
  },
  {
    name: 'capability is checked before validation (403, not the validation errors)',
    method: 'POST', path: '/tickets.create', auth: 'carol', headers: json, body: JSON.stringify({ title: 42, unknown: true }), fast: true,
    expect: { status: 403, codes: ['ERR_AUTHZ_DENIED'] }, ran: {}, audit: ['denial'],
  },
  { name: 'query by a principal without the capability', method: 'GET', path: `/tickets.list?input=${q({})}`, auth: 'carol', fast: true, expect: { status: 403, codes: ['ERR_AUTHZ_DENIED'] }, ran: {}, audit: ['denial'] },
  { name: 'mutation needing a capability nobody holds (admin.purge)', method: 'POST', path: '/tickets.admin.purge', auth: 'alice', headers: json, body: JSON.stringify({ before: '2024-01-01T00:00:00Z' }), fast: true, expect: { status: 403, codes: ['ERR_AUTHZ_DENIED'] }, ran: {}, audit: ['denial'] },
  {
    name: 'resource-scoped capability, allowed (bob reads t1)',
    method: 'GET', path: `/tickets.get?input=${q({ ticketId: 't1' })}`, auth: 'bob', fast: true,
    expect: { status: 200, codes: [null] }, ran: { get: 1 },
    check: (body) => expect(body.result.data).toEqual(ticket('t1', 'printer', 'p@example.com')),
  },
  { name: 'resource-scoped capability, denied (bob reads t2)', method: 'GET', path: `/tickets.get?input=${q({ ticketId: 't2' })}`, auth: 'bob', fast: true, expect: { status: 403, codes: ['ERR_AUTHZ_DENIED'] }, ran: {}, audit: ['denial'] },

  // --- tenancy keys in the input
  { name: 'orgId in a mutation input', method: 'POST', path: '/tickets.create', auth: 'alice', headers: json, body: JSON.stringify({ ...valid, orgId: 'org_b' }), fast: true, expect: { status: 400, codes: ['ERR_TENANCY_KEY_IN_INPUT'] }, ran: {} },
  { name: 'a nested tenancy key (tags.0.ORG_ID)', method: 'POST', path: '/tickets.create', auth: 'alice', headers: json, body: JSON.stringify({ ...valid, tags: [{ ORG_ID: 'org_b' }] }), fast: true, expect: { status: 400, codes: ['ERR_TENANCY_KEY_IN_INPUT'] }, ran: {} },
  { name: 'workspace_id in a mutation input', method: 'POST', path: '/tickets.create', auth: 'alice', headers: json, body: JSON.stringify({ ...valid, workspace_id: 'w' }), fast: true, expect: { status: 400, codes: ['ERR_TENANCY_KEY_IN_INPUT'] }, ran: {} },
  { name: 'orgId in a query input', method: 'GET', path: `/tickets.list?input=${q({ limit: 5, orgId: 'org_b' })}`, auth: 'alice', fast: true, expect: { status: 400, codes: ['ERR_TENANCY_KEY_IN_INPUT'] }, ran: {} },
  { name: 'tenancy key, but no capability: 403 first', method: 'POST', path: '/tickets.create', auth: 'carol', headers: json, body: JSON.stringify({ ...valid, orgId: 'org_b' }), fast: true, expect: { status: 403, codes: ['ERR_AUTHZ_DENIED'] }, ran: {}, audit: ['denial'] },

  // --- input validation
  {
    name: 'mutation input failing validation',
    method: 'POST', path: '/tickets.create', auth: 'alice', headers: json, body: JSON.stringify({ title: '', requesterEmail: 'not-an-email' }), fast: true,
    expect: { status: 400, codes: ['ERR_INPUT_INVALID'] }, ran: {},
    check: (body) => expect(body.error.data.issues.map((issue: { path: unknown[] }) => issue.path[0]).sort()).toEqual(['requesterEmail', 'title']),
  },
  { name: 'mutation input with an unknown key (strict schema)', method: 'POST', path: '/tickets.create', auth: 'alice', headers: json, body: JSON.stringify({ ...valid, priority: 'high' }), fast: true, expect: { status: 400, codes: ['ERR_INPUT_INVALID'] }, ran: {} },
  { name: 'query input failing validation', method: 'GET', path: `/tickets.list?input=${q({ limit: 0 })}`, auth: 'alice', fast: true, expect: { status: 400, codes: ['ERR_INPUT_INVALID'] }, ran: {} },
  { name: 'query input of the wrong type', method: 'GET', path: `/tickets.list?input=${q([1, 2])}`, auth: 'alice', fast: true, expect: { status: 400, codes: ['ERR_INPUT_INVALID'] }, ran: {} },
  { name: 'query whose input is missing', method: 'GET', path: '/tickets.get', auth: 'alice', fast: true, expect: { status: 400, codes: ['ERR_INPUT_INVALID'] }, ran: {} },
  { name: 'query whose input parameter is empty', method: 'GET', path: '/tickets.get?input=', auth: 'alice', fast: true, expect: { status: 400, codes: ['ERR_INPUT_INVALID'] }, ran: {} },
  { name: 'mutation with an empty body', method: 'POST', path: '/tickets.create', auth: 'alice', headers: json, fast: true, expect: { status: 400, codes: ['ERR_INPUT_INVALID'] }, ran: {} },

  // --- declared errors
  {
    name: 'declared error DUPLICATE_TITLE (409, audited as failed)',
    method: 'POST', path: '/tickets.create', auth: 'alice', headers: json, body: JSON.stringify({ title: 'printer', requesterEmail: 'x@example.com' }), fast: true,
    expect: { status: 409, codes: ['DUPLICATE_TITLE'] }, ran: { create: 1 }, audit: ['intent', 'outcome:failed'],
  },
  { name: 'declared error TICKET_NOT_FOUND (no such id)', method: 'GET', path: `/tickets.get?input=${q({ ticketId: 't99' })}`, auth: 'alice', fast: true, expect: { status: 404, codes: ['TICKET_NOT_FOUND'] }, ran: { get: 1 } },
  { name: 'declared error TICKET_NOT_FOUND (another org’s ticket)', method: 'GET', path: `/tickets.get?input=${q({ ticketId: 't1' })}`, auth: 'mallory', fast: true, expect: { status: 404, codes: ['TICKET_NOT_FOUND'] }, ran: { get: 1 } },

  // --- results
  {
    name: 'successful query',
    method: 'GET', path: `/tickets.list?input=${q({ limit: 5 })}`, auth: 'alice', fast: true,
    expect: { status: 200, codes: [null] }, ran: { list: 1 },
    check: (body) => expect(body.result.data.items.map((t: { id: string }) => t.id)).toEqual(['t1', 't2']),
  },
  {
    name: 'successful query, default input applied',
    method: 'GET', path: `/tickets.list?input=${q({})}`, auth: 'alice', fast: true,
    expect: { status: 200, codes: [null] }, ran: { list: 1 },
    check: (body) => expect(body.result.data.items).toHaveLength(2),
  },
  { name: 'query without any input parameter', method: 'GET', path: '/tickets.list', auth: 'alice', fast: true, expect: { status: 400, codes: ['ERR_INPUT_INVALID'] }, ran: {} },
  {
    name: 'successful mutation (audited: intent, then ok outcome)',
    method: 'POST', path: '/tickets.create', auth: 'alice', headers: json, body: JSON.stringify({ ...valid, tags: ['a', 'b'] }), fast: true,
    expect: { status: 200, codes: [null] }, ran: { create: 1 }, audit: ['intent', 'outcome:ok'],
    check: (body) => expect(body.result.data).toEqual(ticket('t4', 'new ticket', 'n@example.com')),
  },
  { name: 'mutation, content type with parameters and odd case', method: 'POST', path: '/tickets.create', auth: 'alice', headers: { 'content-type': 'Application/JSON; charset=utf-8' }, body: JSON.stringify(valid), fast: true, expect: { status: 200, codes: [null] }, ran: { create: 1 }, audit: ['intent', 'outcome:ok'] },
  { name: 'mutation, body with a byte order mark', method: 'POST', path: '/tickets.create', auth: 'alice', headers: json, body: `\ufeff${JSON.stringify(valid)}`, fast: true, expect: { status: 200, codes: [null] }, ran: { create: 1 }, audit: ['intent', 'outcome:ok'] },
  { name: 'query with a trailing slash', method: 'GET', path: `/tickets.list/?input=${q({})}`, auth: 'alice', fast: true, expect: { status: 200, codes: [null] }, ran: { list: 1 } },
  { name: 'query with a JSON content type', method: 'GET', path: `/tickets.list?input=${q({})}`, auth: 'alice', headers: json, fast: true, expect: { status: 200, codes: [null] }, ran: { list: 1 } },
  { name: 'single call with batch=0', method: 'GET', path: `/tickets.list?batch=0&input=${q({ limit: 1 })}`, auth: 'alice', fast: true, expect: { status: 200, codes: [null] }, ran: { list: 1 } },
  { name: 'duplicate input parameters (the first counts)', method: 'GET', path: `/tickets.list?input=${q({ limit: 1 })}&input=${q({ limit: 0 })}`, auth: 'alice', fast: true, expect: { status: 200, codes: [null] }, ran: { list: 1 } },

  // --- batches
  {
    name: 'batch of queries mixing allowed and refused calls (207)',
    method: 'GET', path: `/tickets.get,tickets.get,tickets.list,tickets.mine?batch=1&input=${q({ 0: { ticketId: 't1' }, 1: { ticketId: 't2' }, 2: {}, 3: {} })}`, auth: 'bob', fast: true,
    expect: { status: 207, codes: [null, 'ERR_AUTHZ_DENIED', 'ERR_AUTHZ_DENIED', null] }, ran: { get: 1, mine: 1 }, audit: ['denial', 'denial'],
  },
  {
    name: 'batch of mutations: allowed, refused, tenancy key, invalid (207)',
    method: 'POST', path: '/tickets.create,tickets.admin.purge,tickets.create,tickets.create?batch=1', auth: 'alice', headers: json,
    body: JSON.stringify({ 0: valid, 1: { before: '2024-01-01T00:00:00Z' }, 2: { ...valid, orgId: 'org_b' }, 3: { title: '' } }), fast: true,
    expect: { status: 207, codes: [null, 'ERR_AUTHZ_DENIED', 'ERR_TENANCY_KEY_IN_INPUT', 'ERR_INPUT_INVALID'] }, ran: { create: 1 }, audit: ['denial', 'intent', 'outcome:ok'],
  },
  {
    name: 'batch of mutations: a declared error next to a result (207)',
    method: 'POST', path: '/tickets.create,tickets.create?batch=1', auth: 'alice', headers: json,
    body: JSON.stringify({ 0: { title: 'printer', requesterEmail: 'x@example.com' }, 1: valid }), fast: true,
    expect: { status: 207, codes: ['DUPLICATE_TITLE', null] }, ran: { create: 2 }, audit: ['intent', 'intent', 'outcome:failed', 'outcome:ok'],
  },
  {
    name: 'batch with one public and one authenticated call, no token (207)',
    method: 'GET', path: `/tickets.status,tickets.list?batch=1&input=${q({ 0: {}, 1: {} })}`, fast: true,
    expect: { status: 207, codes: [null, 'ERR_IDENTITY_TOKEN_MISSING'] }, ran: { status: 1 },
  },
  { name: 'batch all refused the same way (401, not 207)', method: 'GET', path: `/tickets.list,tickets.mine?batch=1&input=${q({ 0: {}, 1: {} })}`, fast: true, expect: { status: 401, codes: ['ERR_IDENTITY_TOKEN_MISSING', 'ERR_IDENTITY_TOKEN_MISSING'] }, ran: {} },
  { name: 'batch whose input is not an object', method: 'POST', path: '/tickets.create,tickets.create?batch=1', auth: 'alice', headers: json, body: '[1,2]', fast: true, expect: { status: 400, codes: ['ERR_REQUEST_MALFORMED', 'ERR_REQUEST_MALFORMED'] }, ran: {} },
  { name: 'batch with malformed JSON', method: 'POST', path: '/tickets.create,tickets.create?batch=1', auth: 'alice', headers: json, body: '{"0":{', fast: true, expect: { status: 400, codes: ['ERR_REQUEST_MALFORMED', 'ERR_REQUEST_MALFORMED'] }, ran: {} },
  { name: 'batch over the body size limit', method: 'POST', path: '/tickets.create,tickets.create?batch=1', auth: 'alice', headers: json, body: JSON.stringify({ 0: valid, 1: { ...valid, title: 'x'.repeat(MAX_BODY) } }), fast: true, expect: { status: 413, codes: ['ERR_PAYLOAD_TOO_LARGE', 'ERR_PAYLOAD_TOO_LARGE'] }, ran: {} },
  { name: 'batch with a call refused before reading a malformed body (207)', method: 'POST', path: '/tickets.admin.purge,tickets.create?batch=1', auth: 'alice', headers: json, body: '{"0":', fast: true, expect: { status: 207, codes: ['ERR_AUTHZ_DENIED', 'ERR_REQUEST_MALFORMED'] }, ran: {}, audit: ['denial'] },

  // --- malformed bodies and hostile inputs
  { name: 'mutation with malformed JSON', method: 'POST', path: '/tickets.create', auth: 'alice', headers: json, body: '{"title":', fast: true, expect: { status: 400, codes: ['ERR_REQUEST_MALFORMED'] }, ran: {} },
  { name: 'query with malformed JSON', method: 'GET', path: '/tickets.list?input=%7Bnope', auth: 'alice', fast: true, expect: { status: 400, codes: ['ERR_REQUEST_MALFORMED'] }, ran: {} },
  { name: 'malformed JSON without a token: 401 first', method: 'POST', path: '/tickets.create', headers: json, body: '{"title":', fast: true, expect: { status: 401, codes: ['ERR_IDENTITY_TOKEN_MISSING'] }, ran: {} },
  {
    name: 'invalid UTF-8 inside a string (decoded to U+FFFD, echoed back by the result)',
    method: 'POST', path: '/tickets.create', auth: 'alice', headers: json,
    body: Buffer.concat([
      Buffer.from('{"title":"a'),
      // lone continuation, overlong '/', UTF-8-encoded surrogate, truncated 3-byte, beyond U+10FFFF, 5-byte form, 0xFF
      Buffer.from([0x80, 0x20, 0xc0, 0xaf, 0x20, 0xed, 0xa0, 0x80, 0x20, 0xe2, 0x82, 0x20, 0xf4, 0x90, 0x80, 0x80, 0x20, 0xf8, 0x88, 0x80, 0x80, 0x80, 0x20, 0xff]),
      Buffer.from('z","requesterEmail":"u@example.com"}'),
    ]),
    fast: true, expect: { status: 200, codes: [null] }, ran: { create: 1 }, audit: ['intent', 'outcome:ok'],
    check: (body) => expect(body.result.data.title).toMatch(/^a\ufffd.*z$/),
  },
  {
    name: 'invalid UTF-8 outside a string (not JSON)',
    method: 'POST', path: '/tickets.create', auth: 'alice', headers: json,
    body: new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]), fast: true, expect: { status: 400, codes: ['ERR_REQUEST_MALFORMED'] }, ran: {},
  },
  { name: 'percent-encoded invalid UTF-8 in a query input', method: 'GET', path: `/tickets.get?input=%7B%22ticketId%22%3A%22%FF%ED%A0%80%22%7D`, auth: 'alice', fast: true, expect: { status: 404, codes: ['TICKET_NOT_FOUND'] }, ran: { get: 1 } },
  { name: 'mutation input nested 64 levels deep (400 ERR_INPUT_TOO_DEEP)', method: 'POST', path: '/tickets.create', auth: 'alice', headers: json, body: `{"title":"x","requesterEmail":"d@example.com","tags":${nested(64)}}`, fast: true, expect: { status: 400, codes: ['ERR_INPUT_TOO_DEEP'] }, ran: {} },
  { name: 'mutation input nested 63 levels deep (within the bound: a validation error)', method: 'POST', path: '/tickets.create', auth: 'alice', headers: json, body: `{"title":"x","requesterEmail":"d@example.com","tags":${nested(63)}}`, fast: true, expect: { status: 400, codes: ['ERR_INPUT_INVALID'] }, ran: {} },
  { name: 'query input nested 1000 levels deep', method: 'GET', path: `/tickets.list?input=${encodeURIComponent(`{"limit":${nested(1000)}}`)}`, auth: 'alice', fast: true, expect: { status: 400, codes: ['ERR_INPUT_TOO_DEEP'] }, ran: {} },
  { name: 'lone surrogate in a string value', method: 'POST', path: '/tickets.create', auth: 'alice', headers: json, body: '{"title":"a\\ud800b","requesterEmail":"s@example.com"}', fast: true, expect: { status: 400, codes: ['ERR_INPUT_MALFORMED_TEXT'] }, ran: {} },
  { name: 'lone surrogate in a key', method: 'POST', path: '/tickets.create', auth: 'alice', headers: json, body: '{"title":"a","requesterEmail":"s@example.com","\\udc00":1}', fast: true, expect: { status: 400, codes: ['ERR_INPUT_MALFORMED_TEXT'] }, ran: {} },
  { name: 'lone surrogate in a query input', method: 'GET', path: `/tickets.get?input=${encodeURIComponent('{"ticketId":"\\ud800"}')}`, auth: 'alice', fast: true, expect: { status: 400, codes: ['ERR_INPUT_MALFORMED_TEXT'] }, ran: {} },
  {
    name: 'body over the size limit (413)',
    method: 'POST', path: '/tickets.create', auth: 'alice', headers: json, body: JSON.stringify({ ...valid, title: 'x'.repeat(MAX_BODY) }), fast: true,
    expect: { status: 413, codes: ['ERR_PAYLOAD_TOO_LARGE'] }, ran: {},
  },
  { name: 'body over the size limit without a token: 401 first', method: 'POST', path: '/tickets.create', headers: json, body: JSON.stringify({ ...valid, title: 'x'.repeat(MAX_BODY) }), fast: true, expect: { status: 401, codes: ['ERR_IDENTITY_TOKEN_MISSING'] }, ran: {} },
  { name: 'body exactly at the size limit', method: 'POST', path: '/tickets.create', auth: 'alice', headers: json, body: `{"title":"x","requesterEmail":"a@example.com"}${' '.repeat(MAX_BODY - 46)}`, fast: true, expect: { status: 200, codes: [null] }, ran: { create: 1 }, audit: ['intent', 'outcome:ok'] },

  { name: 'body one byte over the size limit (413)', method: 'POST', path: '/tickets.create', auth: 'alice', headers: json, body: `{"title":"x","requesterEmail":"a@example.com"}${' '.repeat(MAX_BODY - 45)}`, fast: true, expect: { status: 413, codes: ['ERR_PAYLOAD_TOO_LARGE'] }, ran: {} },
  { name: 'mutation body `null`', method: 'POST', path: '/tickets.create', auth: 'alice', headers: json, body: 'null', fast: true, expect: { status: 400, codes: ['ERR_INPUT_INVALID'] }, ran: {} },
  { name: 'mutation body of whitespace only', method: 'POST', path: '/tickets.create', auth: 'alice', headers: json, body: ' \n ', fast: true, expect: { status: 400, codes: ['ERR_REQUEST_MALFORMED'] }, ran: {} },
  {
    name: 'mutation with an input query parameter too (the body counts)',
    method: 'POST', path: `/tickets.create?input=${q({ ...valid, orgId: 'org_b' })}`, auth: 'alice', headers: json, body: JSON.stringify(valid), fast: true,
    expect: { status: 200, codes: [null] }, ran: { create: 1 }, audit: ['intent', 'outcome:ok'],
  },
  { name: 'batch of one', method: 'GET', path: `/tickets.list?batch=1&input=${q({ 0: { limit: 1 } })}`, auth: 'alice', fast: true, expect: { status: 200, codes: [null] }, ran: { list: 1 } },
  {
    name: 'batch at the size limit (20 calls)',
    method: 'GET', path: `/${Array(20).fill('tickets.list').join(',')}?batch=1&input=${q(Object.fromEntries(Array.from({ length: 20 }, (_, i) => [i, { limit: (i % 3) + 1 }])))}`, auth: 'alice', fast: true,
    expect: { status: 200, codes: Array(20).fill(null) }, ran: { list: 20 },
  },
  { name: 'batch input with a missing entry (that call gets no input)', method: 'POST', path: '/tickets.create,tickets.create?batch=1', auth: 'alice', headers: json, body: JSON.stringify({ 1: valid }), fast: true, expect: { status: 207, codes: ['ERR_INPUT_INVALID', null] }, ran: { create: 1 }, audit: ['intent', 'outcome:ok'] },

  // --- handed to tRPC's adapter
  { name: 'unknown procedure (404)', method: 'GET', path: `/tickets.nope?input=${q({})}`, auth: 'alice', fast: false, expect: { status: 404, codes: ['ERR_PROCEDURE_NOT_FOUND'] }, ran: {} },
  { name: 'unknown procedure as a mutation (404)', method: 'POST', path: '/tickets.nope', auth: 'alice', headers: json, body: '{}', fast: false, expect: { status: 404, codes: ['ERR_PROCEDURE_NOT_FOUND'] }, ran: {} },
  { name: 'a router, not a procedure (404)', method: 'GET', path: '/tickets', auth: 'alice', fast: false, expect: { status: 404, codes: ['ERR_PROCEDURE_NOT_FOUND'] }, ran: {} },
  { name: 'inherited property name as a path (404)', method: 'GET', path: '/constructor', fast: false, expect: { status: 404, codes: ['ERR_PROCEDURE_NOT_FOUND'] }, ran: {} },
  {
    name: 'query sent as POST (405)',
    method: 'POST', path: '/tickets.list', auth: 'alice', headers: json, body: '{}', fast: false,
    expect: { status: 405, codes: ['ERR_METHOD_NOT_SUPPORTED'] }, ran: {},
  },
  { name: 'mutation sent as GET (405)', method: 'GET', path: `/tickets.create?input=${q(valid)}`, auth: 'alice', fast: false, expect: { status: 405, codes: ['ERR_METHOD_NOT_SUPPORTED'] }, ran: {} },
  { name: 'batch with an unknown procedure (207)', method: 'GET', path: `/tickets.status,tickets.nope?batch=1&input=${q({ 0: {} })}`, fast: false, expect: { status: 207, codes: [null, 'ERR_PROCEDURE_NOT_FOUND'] }, ran: { status: 1 } },
  { name: 'batch mixing a query and a mutation', method: 'GET', path: '/tickets.status,tickets.create?batch=1', auth: 'alice', fast: false, expect: { status: 400, codes: ['ERR_REQUEST_MALFORMED'] }, ran: {} },
  { name: 'batch over the limit (21 calls)', method: 'GET', path: `/${Array(21).fill('tickets.status').join(',')}?batch=1`, fast: false, expect: { status: 400, codes: ['ERR_REQUEST_MALFORMED'] }, ran: {} },
  { name: 'mutation with a text content type (415)', method: 'POST', path: '/tickets.create', auth: 'alice', headers: { 'content-type': 'text/plain' }, body: JSON.stringify(valid), fast: false, expect: { status: 415, codes: ['ERR_UNSUPPORTED_MEDIA_TYPE'] }, ran: {} },
  { name: 'PUT (405)', method: 'PUT', path: '/tickets.create', auth: 'alice', headers: json, body: JSON.stringify(valid), fast: false, expect: { status: 405, codes: ['ERR_METHOD_NOT_SUPPORTED'] }, ran: {} },
  { name: 'percent-encoded path', method: 'GET', path: `/tickets%2Elist?input=${q({})}`, auth: 'alice', fast: false, expect: { status: 200, codes: [null] }, ran: { list: 1 } },
  { name: 'dot segments in the path', method: 'GET', path: `/x/../tickets.list?input=${q({})}`, auth: 'alice', fast: false, expect: { status: 200, codes: [null] }, ran: { list: 1 } },
  { name: 'an unknown query parameter', method: 'GET', path: `/tickets.list?input=${q({})}&extra=1`, auth: 'alice', fast: false, expect: { status: 200, codes: [null] }, ran: { list: 1 } },
];

// HEAD has no body to compare: tRPC answers 204 to any HEAD; checked separately below.

describe('Covenant’s wire listener answers the Covenant pipeline exactly as tRPC’s adapter does', () => {
  it('covers the shapes the brief lists (a table that lost a family would pass vacuously)', () => {
    const statuses = new Set(SHAPES.map((shape) => shape.expect.status));
    for (const status of [200, 207, 400, 401, 403, 404, 405, 409, 413, 415]) expect(statuses).toContain(status);
    const codes = new Set(SHAPES.flatMap((shape) => shape.expect.codes));
    for (const code of ['ERR_TENANCY_KEY_IN_INPUT', 'ERR_INPUT_TOO_DEEP', 'ERR_INPUT_MALFORMED_TEXT', 'DUPLICATE_TITLE', 'TICKET_NOT_FOUND', 'ERR_REQUEST_MALFORMED']) {
      expect(codes).toContain(code);
    }
    expect(SHAPES.filter((shape) => shape.fast).length).toBeGreaterThan(40);
  });

  for (const shape of SHAPES) {
    it(`${shape.name} (${shape.fast ? 'fast path' : 'handed to tRPC'})`, async () => {
      const fromTrpc = await exchange('trpc', shape);
      const fromCovenant = await exchange('covenant', shape);

      // The expected answer, on tRPC's side: a shape that silently 404s (or 401s) on both is caught here.
      const context = `${shape.method} ${shape.path.slice(0, 120)} → ${fromTrpc.status} ${fromTrpc.body.slice(0, 300)}`;
      expect(fromTrpc.status, context).toBe(shape.expect.status);
      expect(codesOf(fromTrpc.body), context).toEqual(shape.expect.codes);
      expect(fromTrpc.calls, `${context}: handlers run`).toEqual(shape.ran);
      expect(auditKinds(fromTrpc.audit), `${context}: audit records`).toEqual(shape.audit ?? []);
      if (shape.expect.status >= 400 && shape.expect.status !== 207) {
        expect(fromTrpc.store, 'a refused call changes nothing').toEqual(SEED);
      }
      shape.check?.(JSON.parse(fromTrpc.body));
      if (shape.fast) {
        // Every refusal of the pipeline is logged under the request id its caller was shown.
        const shown = [...new Set(fromTrpc.body.match(/<request \d+>/g) ?? [])];
        const refused = shape.expect.codes.filter((code) => code !== null).length;
        // Each refused call shows its own id, also when tRPC shared one error between the calls of a batch.
        expect(shown.length, 'distinct request ids shown').toBe(refused);
        for (const label of shown) expect(JSON.stringify(fromTrpc.logs), `${label} is logged`).toContain(`"requestId":"${label}"`);
      }

      // Which listener answered: Covenant's sends a content-length, tRPC's adapter streams (chunked).
      expect(fromTrpc.framing.transferEncoding, 'tRPC chunks its answers').toBe('chunked');
      if (shape.fast) {
        expect(fromCovenant.framing, 'answered by Covenant’s listener').toEqual({
          contentLength: String(fromCovenant.framing.bytes),
          transferEncoding: null,
          bytes: fromCovenant.framing.bytes,
        });
      } else {
        expect(fromCovenant.framing.transferEncoding, 'handed to tRPC’s adapter').toBe('chunked');
      }

      // The comparison itself: everything but the framing.
      const { framing: _a, ...covenant } = fromCovenant;
      const { framing: _b, ...trpc } = fromTrpc;
      expect(covenant).toEqual(trpc);
    });
  }

  it('HEAD: both answer 204 with no body', async () => {
    for (const transport of ['trpc', 'covenant'] as const) {
      resetState();
      const answer = await send(servers[transport].port, { method: 'HEAD', path: '/tickets.status' });
      expect({ transport, status: answer.status, body: answer.body }).toEqual({ transport, status: 204, body: '' });
      expect(fixture.calls).toEqual({});
    }
  });
});

describe('side effects are the same on both transports', () => {
  it('an audited mutation records the same intent and outcome (procedure, actor, tenant, digest)', async () => {
    const shape = { method: 'POST', path: '/tickets.create', auth: 'alice' as const, headers: json, body: JSON.stringify({ ...valid, tags: ['x'] }) };
    const records: Record<Transport, unknown> = { covenant: null, trpc: null };
    for (const transport of ['trpc', 'covenant'] as const) {
      resetState();
      const answer = await send(servers[transport].port, shape);
      expect(answer.status).toBe(200);
      const [intent, outcome, ...rest] = fixture.audit.events;
      expect(rest).toEqual([]);
      expect(intent?.type).toBe('intent');
      expect(outcome?.type).toBe('outcome');
      if (intent?.type !== 'intent' || outcome?.type !== 'outcome') return;
      // The outcome belongs to the intent; the ids themselves are random per call.
      expect(outcome.requestId).toBe(intent.intent.requestId);
      const { requestId: _id, at, ...kept } = intent.intent;
      expect(at).toBeInstanceOf(Date);
      expect(kept).toMatchObject({ procedure: 'tickets.create', kind: 'mutation', actor: { subject: 'alice', session: 'sess-alice' }, tenant: { org: 'org_a' } });
      expect(JSON.parse(kept.canonicalInput)).toMatchObject({ requesterEmail: '[redacted:contact]' });
      records[transport] = { intent: kept, outcome: { ok: outcome.ok } };
    }
    expect(records.covenant).toEqual(records.trpc);
    expect(records.trpc).toMatchObject({ outcome: { ok: true } });
  });

  it('a refused call runs no handler and records only the denial, on both', async () => {
    for (const transport of ['trpc', 'covenant'] as const) {
      resetState();
      const answer = await send(servers[transport].port, { method: 'POST', path: '/tickets.create', auth: 'carol', headers: json, body: JSON.stringify(valid) });
      expect(answer.status).toBe(403);
      expect(fixture.calls).toEqual({});
      expect(fixture.store).toEqual(SEED);
      expect(fixture.audit.events.map((event) => event.type)).toEqual(['denial']);
      const wireId = (JSON.parse(answer.body) as { error: { data: { requestId: string } } }).error.data.requestId;
      const denial = fixture.audit.events[0];
      expect(denial?.type === 'denial' ? denial.denial.requestId : null, `${transport}: the denial carries the id the caller was shown`).toBe(wireId);
    }
  });
});

describe('the generated client (tRPC links) sees the same results through both transports', () => {
  type Outcome = { readonly ok: unknown } | { readonly error: Record<string, unknown> };

  async function settle(call: Promise<unknown>): Promise<Outcome> {
    try {
      return { ok: await call };
    } catch (error) {
      if (!isCovenantError(error)) return { error: { unexpected: String(error) } };
      // The request id is random per call: compared as present, not by value.
      return {
        error: {
          name: error.name,
          message: error.message,
          code: error.code,
          httpStatus: error.httpStatus,
          path: error.path,
          issues: error.issues,
          requestId: typeof error.requestId === 'string' && /^[0-9a-f-]{36}$/.test(error.requestId) ? '<uuid>' : error.requestId,
        },
      };
    }
  }

  async function scenario(url: string, batch: boolean): Promise<Record<string, Outcome>> {
    resetState();
    const as = (token: string | undefined) => createClient({ url, token: () => token, batch });
    const anonymous = as(undefined);
    const alice = as(tokens.alice);
    const bob = as(tokens.bob);
    const carol = as(tokens.carol);
    const results: Record<string, Outcome> = {};
    results['status (anonymous)'] = await settle(anonymous.tickets.status.query({}));
    results['list (anonymous)'] = await settle(anonymous.tickets.list.query({}));
    results['list (expired)'] = await settle(as(tokens.expired).tickets.list.query({}));
    results['create'] = await settle(alice.tickets.create.mutate({ title: 'from the client', requesterEmail: 'c@example.com', tags: ['x'] }));
    results['create duplicate'] = await settle(alice.tickets.create.mutate({ title: 'printer', requesterEmail: 'c@example.com' }));
    results['create invalid'] = await settle(alice.tickets.create.mutate({ title: '', requesterEmail: 'nope' }));
    results['create with orgId'] = await settle(alice.tickets.create.mutate({ ...valid, orgId: 'org_b' } as never));
    results['create (carol)'] = await settle(carol.tickets.create.mutate(valid));
    results['purge'] = await settle(alice.tickets.admin.purge.mutate({ before: '2024-01-01T00:00:00Z' }));
    results['list'] = await settle(alice.tickets.list.query({ limit: 10 }));
    results['mine (carol)'] = await settle(carol.tickets.mine.query({}));
    // Concurrent calls: one batched request with httpBatchLink, mixing results and refusals.
    const [t1, t2, missing, list] = await Promise.all([
      settle(bob.tickets.get.query({ ticketId: 't1' })),
      settle(bob.tickets.get.query({ ticketId: 't2' })),
      settle(alice.tickets.get.query({ ticketId: 't404' })),
      settle(bob.tickets.list.query({})),
    ]);
    Object.assign(results, { 'get t1 (bob)': t1, 'get t2 (bob)': t2, 'get missing': missing, 'list (bob)': list });
    results['calls'] = { ok: { ...fixture.calls } };
    results['audit kinds'] = {
      ok: fixture.audit.events.map((event) => (event.type === 'outcome' ? `outcome:${event.ok ? 'ok' : 'failed'}` : event.type)),
    };
    return results;
  }

  for (const batch of [true, false]) {
    it(`${batch ? 'httpBatchLink' : 'httpLink'}: deep-equal results and errors`, async () => {
      const fromTrpc = await scenario(servers.trpc.url, batch);
      const fromCovenant = await scenario(servers.covenant.url, batch);
      expect(fromCovenant).toEqual(fromTrpc);
      // Not two equally broken runs: the expected outcomes.
      const code = (name: string): unknown => {
        const outcome = fromTrpc[name];
        return outcome !== undefined && 'error' in outcome ? outcome.error['code'] : outcome;
      };
      expect(fromTrpc['status (anonymous)']).toEqual({ ok: { open: true } });
      expect(fromTrpc['create']).toEqual({ ok: ticket('t4', 'from the client', 'c@example.com') });
      expect(fromTrpc['get t1 (bob)']).toEqual({ ok: ticket('t1', 'printer', 'p@example.com') });
      expect(fromTrpc['mine (carol)']).toEqual({ ok: { subject: 'carol', org: 'org_a' } });
      expect({
        anonymous: code('list (anonymous)'),
        expired: code('list (expired)'),
        duplicate: code('create duplicate'),
        invalid: code('create invalid'),
        orgId: code('create with orgId'),
        carol: code('create (carol)'),
        purge: code('purge'),
        t2: code('get t2 (bob)'),
        missing: code('get missing'),
        bobList: code('list (bob)'),
      }).toEqual({
        anonymous: 'ERR_IDENTITY_TOKEN_MISSING',
        expired: 'ERR_IDENTITY_TOKEN_EXPIRED',
        duplicate: 'DUPLICATE_TITLE',
        invalid: 'ERR_INPUT_INVALID',
        orgId: 'ERR_TENANCY_KEY_IN_INPUT',
        carol: 'ERR_AUTHZ_DENIED',
        purge: 'ERR_AUTHZ_DENIED',
        t2: 'ERR_AUTHZ_DENIED',
        missing: 'TICKET_NOT_FOUND',
        bobList: 'ERR_AUTHZ_DENIED',
      });
      expect(fromTrpc['calls']).toEqual({ ok: { status: 1, create: 2, list: 1, mine: 1, get: 2 } });
    });
  }
});


describe('connections and the handler’s view', () => {
  /** Raw bytes on one socket (pipelined requests); the whole answer stream as text. */
  function rawExchange(port: number, text: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => socket.end(text));
      let out = '';
      socket.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
      socket.on('end', () => resolve(out));
      socket.on('error', reject);
    });
  }
  /** Statuses and per-answer error codes (or `result`) of a pipelined answer stream, framing aside. */
  const summary = (text: string): string[] =>
    [...text.matchAll(/HTTP\/1\.1 (\d{3})|"code":"([A-Z_]+)"|"result"/g)].map((m) => m[1] ?? m[2] ?? 'result');

  it('a connection stays usable after an early refusal and after a 413 (pipelined requests)', async () => {
    const big = JSON.stringify({ ...valid, title: 'x'.repeat(MAX_BODY) });
    const status = `GET /tickets.status?input=%7B%7D HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`;
    const cases: Array<[string, string[]]> = [
      // Refused before the body is read (no token): the unread body must not be taken for the next request.
      [
        `POST /tickets.create HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 10\r\n\r\n{"a":1234}${status}`,
        ['401', 'ERR_IDENTITY_TOKEN_MISSING', '200', 'result'],
      ],
      [
        `POST /tickets.create HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${tokens.alice}\r\nContent-Type: application/json\r\nContent-Length: ${big.length}\r\n\r\n${big}${status}`,
        ['413', 'ERR_PAYLOAD_TOO_LARGE', '200', 'result'],
      ],
      [
        `POST /tickets.create HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${tokens.alice}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n` +
          `5\r\n{"tit\r\n${(JSON.stringify(valid).length - 5).toString(16)}\r\n${JSON.stringify(valid).slice(5)}\r\n0\r\n\r\n${status}`,
        ['200', 'result', '200', 'result'],
      ],
    ];
    for (const [text, expected] of cases) {
      const seen: Record<Transport, { summary: string[]; calls: Record<string, number> }> = {} as never;
      for (const transport of ['trpc', 'covenant'] as const) {
        resetState();
        const out = await rawExchange(servers[transport].port, text);
        seen[transport] = { summary: summary(out), calls: { ...fixture.calls } };
      }
      expect(seen.trpc.summary).toEqual(expected);
      expect(seen.covenant).toEqual(seen.trpc);
    }
  });

  it('the handler gets a live abort signal on both', async () => {
    const seen: string[] = [];
    fixture.override('mine', ({ ctx }) => ({ subject: String(ctx.signal instanceof AbortSignal), org: String(ctx.signal?.aborted) }));
    try {
      for (const transport of ['trpc', 'covenant'] as const) {
        resetState();
        const answer = await send(servers[transport].port, { method: 'GET', path: `/tickets.mine?input=${q({})}`, auth: 'alice' });
        seen.push(`${answer.status} ${answer.body}`);
      }
    } finally {
      fixture.override('mine', undefined as never);
    }
    expect(seen).toEqual(Array(2).fill('200 {"result":{"data":{"subject":"true","org":"false"}}}'));
  });

  /**
   * tRPC's adapter builds `new URL(req.url, 'http://' + host)` and refuses a request whose Host header is
   * not a URL host with 400 ERR_REQUEST_MALFORMED before anything runs; Covenant's listener hands such
   * requests to tRPC. (This test found the difference: the listener used to serve them.)
   */
  for (const host of ['bad host', 'a<b', '%', '[::1', '127.0.0.1:99999']) {
    it(`an invalid Host header (${JSON.stringify(host)}) is refused by both before anything runs`, async () => {
      const shape = { method: 'POST', path: '/tickets.create', auth: 'alice' as const, headers: { ...json, host }, body: JSON.stringify(valid) };
      const seen = {} as Record<Transport, { status: number; codes: Array<string | null>; calls: Record<string, number>; audit: string[] }>;
      for (const transport of ['trpc', 'covenant'] as const) {
        resetState();
        const answer = await send(servers[transport].port, shape);
        seen[transport] = {
          status: answer.status,
          codes: codesOf(answer.body),
          calls: { ...fixture.calls },
          audit: fixture.audit.events.map((event) => (event.type === 'outcome' ? `outcome:${event.ok ? 'ok' : 'failed'}` : event.type)),
        };
      }
      expect(seen.trpc).toEqual({ status: 400, codes: ['ERR_REQUEST_MALFORMED'], calls: {}, audit: [] });
      expect(seen.covenant).toEqual(seen.trpc);
    });
  }
});
