import type { AddressInfo } from 'node:net';
import { createTokenVerifier, type TokenVerifier, type TokenVerifierOptions } from '@covenant/identity';
import { createCovenantRuntime, createHttpServer, type CovenantRuntime, type Handler, type HttpServerOptions } from '@covenant/server';
import {
  createMemoryAudit,
  createStaticAuthorization,
  createTestIssuer,
  type MemoryAudit,
  type StaticGrants,
  type TestIssuer,
} from '@covenant/testkit';
import { pino } from 'pino';
import { createClient } from './fixtures/generated/client.ts';
import type { Handlers } from './fixtures/generated/handlers.ts';
import { createRouter } from './fixtures/generated/router.ts';
import type { tickets } from './fixtures/contracts/tickets.contract.ts';

export interface StoredTicket {
  readonly id: string;
  readonly title: string;
  readonly requesterEmail: string;
  readonly org: string;
}

/**
 * The fixture service over real HTTP: the generated tickets router, a test issuer, a static grant
 * table and a recording audit port. Handlers keep tickets in memory per org and count their calls, so a
 * test can prove a handler did not run.
 */
export interface FixtureServer {
  readonly url: string;
  readonly issuer: TestIssuer;
  /** The runtime's identity port: server-side callers present principals it verified. */
  readonly verifier: TokenVerifier;
  readonly audit: MemoryAudit;
  /** The authorization port (a static table); `grants` is that table, which a test may change. */
  readonly authorization: ReturnType<typeof createStaticAuthorization>;
  readonly grants: Record<string, ReadonlyArray<string>>;
  readonly runtime: CovenantRuntime;
  readonly router: ReturnType<typeof createRouter>;
  readonly store: StoredTicket[];
  readonly calls: Record<string, number>;
  readonly logs: string[];
  /** Replace a handler for one test. */
  override<K extends keyof Handlers['tickets']>(name: K, handler: Handlers['tickets'][K]): void;
  client(token?: string | (() => string | undefined)): ReturnType<typeof createClient>;
  close(): Promise<void>;
}

export const GRANTS: StaticGrants = {
  'org_a/alice': ['tickets.read', 'tickets.write'],
  'org_a/bob': ['tickets.read@ticket:t1'],
  'org_a/carol': [],
  'org_b/mallory': ['tickets.read', 'tickets.write'],
};

export async function startFixtureServer(
  options: { verifier?: Partial<TokenVerifierOptions>; http?: HttpServerOptions } = {},
): Promise<FixtureServer> {
  const issuer = await createTestIssuer({ kids: ['k1', 'k2'] });
  const grants: Record<string, ReadonlyArray<string>> = { ...GRANTS };
  const authorization = createStaticAuthorization(grants);
  const audit = createMemoryAudit();
  const logs: string[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void logs.push(line) });
  const verifier = createTokenVerifier({ ...issuer.verifierOptions(), ...options.verifier });
  const runtime = createCovenantRuntime({
    identity: verifier,
    authorization,
    audit,
    logger,
  });
  const store: StoredTicket[] = [];
  const calls: Record<string, number> = {};
  const count = (name: string): void => {
    calls[name] = (calls[name] ?? 0) + 1;
  };
  const overrides: Partial<Record<keyof Handlers['tickets'], unknown>> = {};
  const pick = <K extends keyof Handlers['tickets']>(name: K, fallback: Handlers['tickets'][K]): Handlers['tickets'][K] =>
    ((args: never) => {
      count(name);
      const handler = (overrides[name] ?? fallback) as (args: never) => unknown;
      return handler(args);
    }) as Handlers['tickets'][K];

  const create: Handler<typeof tickets.create> = ({ input, ctx }) => {
    if (store.some((t) => t.org === ctx.tenant.org && t.title === input.title)) ctx.fail('DUPLICATE_TITLE');
    const ticket = { id: `t${store.length + 1}`, title: input.title, requesterEmail: input.requesterEmail, org: ctx.tenant.org };
    store.push(ticket);
    return ticket;
  };
  const handlers: Handlers = {
    tickets: {
      admin: { purge: () => ({ removed: 0 }) },
      create: pick('create', create),
      get: pick('get', ({ input, ctx }) => {
        const ticket = store.find((t) => t.id === input.ticketId && t.org === ctx.tenant.org);
        return ticket ?? ctx.fail('TICKET_NOT_FOUND');
      }),
      list: pick('list', ({ input, ctx }) => ({ items: store.filter((t) => t.org === ctx.tenant.org).slice(0, input.limit) })),
      mine: pick('mine', ({ ctx }) => ({ subject: ctx.principal.subject, org: ctx.tenant.org })),
      status: pick('status', () => ({ open: true })),
    },
  };
  const router = createRouter(runtime, handlers);
  const server = createHttpServer(runtime, router, options.http);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    issuer,
    verifier,
    audit,
    authorization,
    grants,
    runtime,
    router,
    store,
    calls,
    logs,
    override(name, handler) {
      overrides[name] = handler;
    },
    client(token) {
      const provider = typeof token === 'function' ? token : () => token;
      return createClient({ url, token: provider });
    },
    close: () => new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve()))),
  };
}

/** A raw HTTP call, for the status line and body exactly as a non-Covenant client sees them. */
export async function rawCall(
  url: string,
  path: string,
  options: { input?: unknown; token?: string; headers?: Record<string, string>; method?: 'GET' | 'POST' } = {},
): Promise<{ status: number; body: any; text: string }> {
  const method = options.method ?? 'GET';
  const headers: Record<string, string> = { ...options.headers };
  if (options.token !== undefined) headers['authorization'] = `Bearer ${options.token}`;
  const input = JSON.stringify(options.input ?? {});
  const response =
    method === 'GET'
      ? await fetch(`${url}/${path}?input=${encodeURIComponent(input)}`, { headers })
      : await fetch(`${url}/${path}`, { method, headers: { ...headers, 'content-type': 'application/json' }, body: input });
  const text = await response.text();
  return { status: response.status, body: JSON.parse(text), text };
}
