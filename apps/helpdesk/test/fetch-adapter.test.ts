import { describe, expect, it } from 'vitest';
import { createTokenVerifier } from '@covenant/identity';
import { RECEIPTS_HEADER, createCovenantRuntime, createFetchHandler, type FetchHandlerOptions } from '@covenant/server';
import { createMemoryAudit, createStaticAuthorization, createTestIssuer } from '@covenant/testkit';
import { pino } from 'pino';
import { createRouter } from './fixtures/generated/router.ts';
import { simpleHandlers } from './fixtures/simple-handlers.ts';
import { until } from './held-request.ts';

const handlers = simpleHandlers;

/** What an audit port on a signed log would hand back; the memory double keeps no log, so none. */
const RECEIPT = Object.freeze({ intentSeq: 7, outcomeSeq: 8, checkpoint: Object.freeze({ size: 9, root: 'cm9vdA==', note: 'a note\n' }) });

async function fetchHandler(options: Omit<FetchHandlerOptions, 'endpoint'> = {}) {
  const issuer = await createTestIssuer();
  const grants: Record<string, ReadonlyArray<string>> = { 'org_a/alice': ['tickets.write'] };
  const authorization = createStaticAuthorization(grants);
  const audit = createMemoryAudit();
  const runtime = createCovenantRuntime({
    identity: createTokenVerifier(issuer.verifierOptions()),
    authorization,
    audit: {
      recordDenial: (record) => audit.recordDenial(record),
      audited: async (intent, action) => ({ ...(await audit.audited(intent, action)), receipt: RECEIPT }),
    },
    logger: pino({ level: 'silent' }),
  });
  const handle = createFetchHandler(runtime, createRouter(runtime, handlers), { endpoint: '/api', ...options });
  return { issuer, handle, grants, authorization, audit };
}

/** A POST body the test writes when it wants to (`push`, then `end`), as a caller holding it back would. */
function heldBody() {
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  const stream = new ReadableStream<Uint8Array>({
    start(c) {
      controller = c;
    },
  });
  return {
    stream,
    push: (value: unknown) => controller.enqueue(new TextEncoder().encode(JSON.stringify(value))),
    end: () => controller.close(),
  };
}

const post = (path: string, token: string, body: BodyInit) =>
  new Request(`http://covenant.test/api/${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body,
    duplex: 'half',
  } as RequestInit);

const TICKET = { title: 'Printer on fire', requesterEmail: 'pat@example.com' };

describe('the Fetch API adapter enforces the same pipeline', () => {
  it('serves a verified caller with the tenant from the token', async () => {
    const { issuer, handle } = await fetchHandler();
    const token = await issuer.mint({ sub: 'alice', org: 'org_a' });
    const response = await handle(
      new Request('http://covenant.test/api/tickets.mine?input=%7B%7D', { headers: { authorization: `Bearer ${token}` } }),
    );
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ result: { data: { subject: 'alice', org: 'org_a' } } });
  });

  it('refuses a missing token (401) and two Authorization headers, even valid ones (401)', async () => {
    const { issuer, handle } = await fetchHandler();
    const missing = await handle(new Request('http://covenant.test/api/tickets.mine?input=%7B%7D'));
    expect(missing.status).toBe(401);
    expect((await missing.json()).error.data.code).toBe('ERR_IDENTITY_TOKEN_MISSING');

    const token = await issuer.mint({ sub: 'alice', org: 'org_a' });
    const headers = new Headers();
    headers.append('authorization', `Bearer ${token}`);
    headers.append('authorization', `Bearer ${token}`);
    const doubled = await handle(new Request('http://covenant.test/api/tickets.mine?input=%7B%7D', { headers }));
    expect(doubled.status).toBe(401);
    expect((await doubled.json()).error.data.code).toBe('ERR_IDENTITY_TOKEN_INVALID');
  });

  it('refuses a tenancy key in the input (400) and a caller without the capability (403)', async () => {
    const { issuer, handle } = await fetchHandler();
    const token = await issuer.mint({ sub: 'alice', org: 'org_a' });
    const tenancy = await handle(
      new Request('http://covenant.test/api/tickets.mine?input=%7B%22orgId%22%3A%22org_b%22%7D', {
        headers: { authorization: `Bearer ${token}` },
      }),
    );
    expect(tenancy.status).toBe(400);
    expect((await tenancy.json()).error.data.code).toBe('ERR_TENANCY_KEY_IN_INPUT');
    const denied = await handle(
      new Request('http://covenant.test/api/tickets.list?input=%7B%7D', { headers: { authorization: `Bearer ${token}` } }),
    );
    expect(denied.status).toBe(403);
  });
});

describe('the Fetch API adapter enforces the same request limits and decides at the action', () => {
  it('refuses a body over maxBodyBytes with 413 (default 1 MiB) before any handler runs', async () => {
    const { issuer, handle, audit } = await fetchHandler();
    const token = await issuer.mint({ sub: 'alice', org: 'org_a' });
    const huge = JSON.stringify({ ...TICKET, title: 'x'.repeat(1024 * 1024) });
    const response = await handle(post('tickets.create', token, huge));
    expect(response.status).toBe(413);
    expect((await response.json()).error.data.code).toBe('ERR_PAYLOAD_TOO_LARGE');
    expect(audit.events.filter((e) => e.type === 'intent')).toEqual([]);
    // The same through a streamed body, and with a smaller configured limit.
    const small = await fetchHandler({ maxBodyBytes: 64 });
    const streamed = heldBody();
    const answer = small.handle(post('tickets.create', await small.issuer.mint({ sub: 'alice', org: 'org_a' }), streamed.stream));
    streamed.push({ ...TICKET, title: 'y'.repeat(100) });
    expect((await answer).status).toBe(413);
  });

  it('refuses a body that has not arrived bodyTimeoutMs after the request with 408', async () => {
    const { issuer, handle, audit } = await fetchHandler({ bodyTimeoutMs: 100 });
    const token = await issuer.mint({ sub: 'alice', org: 'org_a' });
    const response = await handle(post('tickets.create', token, heldBody().stream)); // never written
    expect(response.status).toBe(408);
    expect((await response.json()).error.data.code).toBe('ERR_REQUEST_TIMEOUT');
    expect(audit.events.filter((e) => e.type === 'intent')).toEqual([]);
  });

  it('a capability revoked while the body is held: 403 at the action, a denial, no intent', async () => {
    const { issuer, handle, grants, authorization, audit } = await fetchHandler();
    const token = await issuer.mint({ sub: 'alice', org: 'org_a' });
    const body = heldBody();
    const answer = handle(post('tickets.create', token, body.stream));
    await until(() => authorization.decisions.length > 0);
    expect(authorization.decisions[0]).toMatchObject({ allowed: true });
    grants['org_a/alice'] = [];
    body.push(TICKET);
    body.end();
    const response = await answer;
    expect(response.status).toBe(403);
    expect(audit.events.filter((e) => e.type === 'intent')).toEqual([]);
    expect(audit.events.filter((e) => e.type === 'denial')).toHaveLength(1);
  });

  it('refuses limits that are not positive integers, naming the option', async () => {
    for (const option of ['maxBodyBytes', 'bodyTimeoutMs', 'maxBatchSize'] as const) {
      await expect(fetchHandler({ [option]: 0 })).rejects.toThrow(new RegExp(`"${option}"`));
    }
  });
});

describe('the Fetch API adapter hands out audit receipts', () => {
  it('an audited call answers with its receipt in the receipts header; an unaudited one with none', async () => {
    const { issuer, handle } = await fetchHandler();
    const token = await issuer.mint({ sub: 'alice', org: 'org_a' });
    const response = await handle(post('tickets.create', token, JSON.stringify(TICKET)));
    expect(response.status).toBe(200);
    const header = response.headers.get(RECEIPTS_HEADER);
    expect(JSON.parse(Buffer.from(header!, 'base64url').toString('utf8'))).toEqual([
      { call: 0, path: 'tickets.create', requestId: expect.any(String), ...RECEIPT },
    ]);
    const query = await handle(new Request('http://covenant.test/api/tickets.mine?input=%7B%7D', { headers: { authorization: `Bearer ${token}` } }));
    expect(query.status).toBe(200);
    expect(query.headers.get(RECEIPTS_HEADER)).toBeNull();
  });
});
