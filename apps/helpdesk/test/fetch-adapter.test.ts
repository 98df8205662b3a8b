import { describe, expect, it } from 'vitest';
import { createTokenVerifier } from '@covenant/identity';
import { createCovenantRuntime, createFetchHandler } from '@covenant/server';
import { createMemoryAudit, createStaticAuthorization, createTestIssuer } from '@covenant/testkit';
import { pino } from 'pino';
import { createRouter } from './fixtures/generated/router.ts';
import { simpleHandlers } from './fixtures/simple-handlers.ts';

const handlers = simpleHandlers;

async function fetchHandler() {
  const issuer = await createTestIssuer();
  const runtime = createCovenantRuntime({
    identity: createTokenVerifier(issuer.verifierOptions()),
    authorization: createStaticAuthorization({}),
    audit: createMemoryAudit(),
    logger: pino({ level: 'silent' }),
  });
  return { issuer, handle: createFetchHandler(runtime, createRouter(runtime, handlers), { endpoint: '/api' }) };
}

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
