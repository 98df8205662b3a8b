import { connect } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { isCovenantError } from '@covenant/client';
import { rawCall, startFixtureServer, type FixtureServer } from './harness.ts';

let server: FixtureServer;
const alice = { sub: 'alice', org: 'org_a', sid: 'sess-alice' };
const carol = { sub: 'carol', org: 'org_a' };
const bob = { sub: 'bob', org: 'org_a' };
const mallory = { sub: 'mallory', org: 'org_b' };

beforeAll(async () => {
  server = await startFixtureServer();
});
afterAll(async () => {
  await server.close();
});
afterEach(() => {
  server.audit.clear();
  server.store.length = 0;
  for (const key of Object.keys(server.calls)) delete server.calls[key];
});

/** Every refusal in this file: status, a stable code, a request id, and nothing secret in the body. */
function expectRefusal(result: { status: number; body: any; text: string }, status: number, code: string, secrets: string[] = []) {
  expect(result.status).toBe(status);
  expect(result.body.error.data.code).toBe(code);
  expect(result.body.error.data.requestId).toMatch(/^[0-9a-f-]{36}$/);
  expect(result.body.error.data).not.toHaveProperty('stack');
  for (const secret of secrets) expect(result.text).not.toContain(secret);
}

describe('authentication over real HTTP', () => {
  it('refuses a call without a token with 401, before the handler', async () => {
    const result = await rawCall(server.url, 'tickets.list');
    expectRefusal(result, 401, 'ERR_IDENTITY_TOKEN_MISSING');
    expect(server.calls['list']).toBeUndefined();
  });

  const hostile: Array<[string, () => Promise<string>, string]> = [
    ['an expired token', () => server.issuer.forge.expired(alice), 'ERR_IDENTITY_TOKEN_EXPIRED'],
    ['a token from another issuer', () => server.issuer.forge.wrongIssuer(alice), 'ERR_IDENTITY_TOKEN_INVALID'],
    ['a token for another audience', () => server.issuer.forge.wrongAudience(alice), 'ERR_IDENTITY_TOKEN_INVALID'],
    ['alg: none', () => server.issuer.forge.algNone(alice), 'ERR_IDENTITY_TOKEN_INVALID'],
    ['HS256 signed with the public key (PEM)', () => server.issuer.forge.hs256WithPublicKey(alice, 'spki-pem'), 'ERR_IDENTITY_TOKEN_INVALID'],
    ['HS256 signed with the public key (JWK)', () => server.issuer.forge.hs256WithPublicKey(alice, 'jwk-json'), 'ERR_IDENTITY_TOKEN_INVALID'],
    ['an unknown kid', () => server.issuer.forge.unknownKid(alice), 'ERR_IDENTITY_TOKEN_INVALID'],
    ['a known kid signed by another key', () => server.issuer.forge.wrongKey(alice), 'ERR_IDENTITY_TOKEN_INVALID'],
    [
      'a tampered payload (org switched)',
      async () => server.issuer.forge.tampered(await server.issuer.mint(alice), { org: 'org_b' }),
      'ERR_IDENTITY_TOKEN_INVALID',
    ],
    [
      'duplicate claim names (org twice, once escaped)',
      () =>
        server.issuer.forge.rawSigned(
          server.issuer.headerJson(),
          JSON.stringify(server.issuer.claims(alice)).replace(/}$/, ',"o\\u0072g":"org_b"}'),
        ),
      'ERR_IDENTITY_TOKEN_INVALID',
    ],
    [
      'an array-valued tenant claim',
      () => server.issuer.forge.rawSigned(server.issuer.headerJson(), JSON.stringify({ ...server.issuer.claims(alice), org: ['org_a', 'org_b'] })),
      'ERR_IDENTITY_TOKEN_INVALID',
    ],
    [
      'a deeply nested payload',
      () =>
        server.issuer.forge.rawSigned(
          server.issuer.headerJson(),
          JSON.stringify({ ...server.issuer.claims(alice), x: JSON.parse('['.repeat(40) + ']'.repeat(40)) }),
        ),
      'ERR_IDENTITY_TOKEN_INVALID',
    ],    // Signed by the issuer's key for this audience, but for other purposes (RFC 9068 typ).
    ['a refresh token (typ rt+jwt)', () => server.issuer.forge.wrongType(alice, 'rt+jwt'), 'ERR_IDENTITY_TOKEN_INVALID'],
    ['an invitation token (typ invite+jwt)', () => server.issuer.forge.wrongType(alice, 'invite+jwt'), 'ERR_IDENTITY_TOKEN_INVALID'],
    [
      'a token without typ',
      () => {
        const { typ: _typ, ...header } = JSON.parse(server.issuer.headerJson()) as Record<string, unknown>;
        return server.issuer.forge.rawSigned(JSON.stringify(header), JSON.stringify(server.issuer.claims(alice)));
      },
      'ERR_IDENTITY_TOKEN_INVALID',
    ],
    [
      'a critical b64 extension (crit ["b64","b64"], b64 true)',
      () =>
        server.issuer.forge.rawSigned(
          JSON.stringify({ ...JSON.parse(server.issuer.headerJson()), crit: ['b64', 'b64'], b64: true }),
          JSON.stringify(server.issuer.claims(alice)),
        ),
      'ERR_IDENTITY_TOKEN_INVALID',
    ],
    ['a token living ten years', () => server.issuer.forge.longLived(alice), 'ERR_IDENTITY_TOKEN_INVALID'],
    [
      'a token with exp 1e300',
      () => server.issuer.forge.rawSigned(server.issuer.headerJson(), JSON.stringify({ ...server.issuer.claims(alice), exp: 1e300 })),
      'ERR_IDENTITY_TOKEN_INVALID',
    ],
  ];
  for (const [name, make, code] of hostile) {
    it(`refuses ${name} with 401 (never 500), and the token is not echoed`, async () => {
      const token = await make();
      const result = await rawCall(server.url, 'tickets.list', { token });
      expectRefusal(result, 401, code, [token, token.split('.')[1]!]);
      expect(server.calls['list']).toBeUndefined();
      expect(server.logs.join('\n')).not.toContain(token);
    });
  }

  it('refuses two Authorization headers as ambiguous (401), even when both are valid', async () => {
    const token = await server.issuer.mint(alice);
    const { port } = new URL(server.url);
    // A raw request: fetch and http.request would merge or refuse the repeated header themselves.
    const raw = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(port), '127.0.0.1', () => {
        socket.write(
          `GET /tickets.list?input=%7B%7D HTTP/1.1\r\nHost: 127.0.0.1\r\n` +
            `Authorization: Bearer ${token}\r\nAuthorization: Bearer ${token}\r\nConnection: close\r\n\r\n`,
        );
      });
      let text = '';
      socket.on('data', (chunk) => (text += chunk));
      socket.on('end', () => resolve(text));
      socket.on('error', reject);
    });
    expect(raw.split('\r\n')[0]).toBe('HTTP/1.1 401 Unauthorized');
    expect(raw).toContain('"ERR_IDENTITY_TOKEN_INVALID"');
    expect(server.calls['list']).toBeUndefined();
  });

  it('runs the handler with the tenant from the token, not from anything the caller sends', async () => {
    const api = server.client(await server.issuer.mint(alice));
    await expect(api.tickets.mine.query({})).resolves.toEqual({ subject: 'alice', org: 'org_a' });
    const created = await api.tickets.create.mutate({ title: 'printer', requesterEmail: 'p@example.com' });
    expect(created.org).toBe('org_a');
  });

  it('refuses orgId in the input with 400 saying the tenant comes from the session, and the handler never runs', async () => {
    const token = await server.issuer.mint(alice);
    for (const [input, at] of [
      [{ title: 'x', requesterEmail: 'a@example.com', orgId: 'org_b' }, 'orgId'],
      [{ title: 'x', requesterEmail: 'a@example.com', tags: [{ ORG_ID: 'org_b' }] }, 'tags.0.ORG_ID'],
      [{ title: 'x', requesterEmail: 'a@example.com', workspace_id: 'w' }, 'workspace_id'],
    ] as const) {
      const result = await rawCall(server.url, 'tickets.create', { token, input, method: 'POST' });
      expectRefusal(result, 400, 'ERR_TENANCY_KEY_IN_INPUT');
      expect(result.body.error.message).toContain(at);
      expect(result.body.error.message).toContain('tenant comes from the verified session');
    }
    expect(server.calls['create']).toBeUndefined();
    expect(server.audit.events.filter((e) => e.type === 'intent')).toHaveLength(0);
  });

  it('serves a sanctioned public procedure without a token, but refuses a bad token there too', async () => {
    await expect(server.client().tickets.status.query({})).resolves.toEqual({ open: true });
    const expired = await server.issuer.forge.expired(alice);
    expectRefusal(await rawCall(server.url, 'tickets.status', { token: expired }), 401, 'ERR_IDENTITY_TOKEN_EXPIRED');
  });
});

describe('authorization', () => {
  it('refuses a principal without the capability with 403, records the denial, and the handler never runs', async () => {
    const result = await rawCall(server.url, 'tickets.create', {
      token: await server.issuer.mint(carol),
      input: { title: 'x', requesterEmail: 'c@example.com' },
      method: 'POST',
    });
    expectRefusal(result, 403, 'ERR_AUTHZ_DENIED');
    expect(server.calls['create']).toBeUndefined();
    const denial = server.audit.events.find((e) => e.type === 'denial');
    expect(denial).toMatchObject({
      type: 'denial',
      denial: {
        procedure: 'tickets.create',
        actor: { subject: 'carol' },
        tenant: { org: 'org_a' },
        decision: { allowed: false, capability: 'tickets.write', code: 'authz.missing_capability' },
      },
    });
  });

  it('authorizes before validating: a caller without the capability gets 403, not the validation errors', async () => {
    const result = await rawCall(server.url, 'tickets.create', {
      token: await server.issuer.mint(carol),
      input: { title: 42, unknown: true },
      method: 'POST',
    });
    expectRefusal(result, 403, 'ERR_AUTHZ_DENIED');
    expect(result.body.error.data.issues).toBeUndefined();
  });

  it('checks the exact resource named by the input: bob may read ticket t1 only', async () => {
    server.store.push({ id: 't1', title: 'a', requesterEmail: 'a@example.com', org: 'org_a' });
    server.store.push({ id: 't2', title: 'b', requesterEmail: 'b@example.com', org: 'org_a' });
    const api = server.client(await server.issuer.mint(bob));
    await expect(api.tickets.get.query({ ticketId: 't1' })).resolves.toMatchObject({ id: 't1' });
    const refused = await api.tickets.get.query({ ticketId: 't2' }).catch((error: unknown) => error);
    expect(isCovenantError(refused, 'ERR_AUTHZ_DENIED')).toBe(true);
    expect((refused as { httpStatus: number }).httpStatus).toBe(403);
    expect(server.calls['get']).toBe(1);
  });

  it('never lets a principal of another org read or change a ticket by id', async () => {
    server.store.push({ id: 't1', title: 'a', requesterEmail: 'a@example.com', org: 'org_a' });
    const api = server.client(await server.issuer.mint(mallory));
    const error = await api.tickets.get.query({ ticketId: 't1' }).catch((e: unknown) => e);
    expect(isCovenantError(error, 'TICKET_NOT_FOUND')).toBe(true);
    await expect(api.tickets.list.query({})).resolves.toEqual({ items: [] });
  });
});

describe('audit before action', () => {
  it('makes the intent durable before the handler runs and records an ok outcome', async () => {
    const order: string[] = [];
    server.audit.onAction = () => order.push('intent recorded');
    server.override('create', ({ input, ctx }) => {
      order.push('handler');
      return { id: 'x', title: input.title, requesterEmail: input.requesterEmail, org: ctx.tenant.org };
    });
    try {
      const api = server.client(await server.issuer.mint(alice));
      await api.tickets.create.mutate({ title: 'audited', requesterEmail: 'secret.person@example.com' });
    } finally {
      server.audit.onAction = null;
      server.override('create', undefined as never);
    }
    expect(order).toEqual(['intent recorded', 'handler']);
    const [intent, outcome] = server.audit.events;
    expect(intent).toMatchObject({
      type: 'intent',
      intent: { procedure: 'tickets.create', actor: { subject: 'alice', session: 'sess-alice' }, tenant: { org: 'org_a' } },
    });
    expect(outcome).toMatchObject({ type: 'outcome', ok: true });
    // The intent holds the input with the classified value redacted (the port digests it), never the value.
    expect(JSON.stringify(intent)).not.toContain('secret.person@example.com');
    expect(JSON.parse((intent as { intent: { canonicalInput: string } }).intent.canonicalInput)).toMatchObject({ requesterEmail: '[redacted:contact]' });
  });

  it('fails closed with 503 when the intent cannot be written, and the handler does not run', async () => {
    server.audit.failIntents(1);
    const result = await rawCall(server.url, 'tickets.create', {
      token: await server.issuer.mint(alice),
      input: { title: 'x', requesterEmail: 'a@example.com' },
      method: 'POST',
    });
    expectRefusal(result, 503, 'ERR_AUDIT_UNAVAILABLE');
    expect(server.calls['create']).toBeUndefined();
  });

  it('records a failed outcome (never a success) when the handler throws, and the wire carries no internals', async () => {
    server.override('create', () => {
      throw new Error('SELECT * FROM tickets WHERE secret = 42; password=hunter2');
    });
    try {
      const result = await rawCall(server.url, 'tickets.create', {
        token: await server.issuer.mint(alice),
        input: { title: 'x', requesterEmail: 'a@example.com' },
        method: 'POST',
      });
      expectRefusal(result, 500, 'ERR_INTERNAL', ['SELECT', 'hunter2', 'Error:', 'at ']);
      expect(result.body.error.message).toBe('Internal server error');
      expect(server.audit.events.map((e) => e.type === 'outcome' && e.ok)).toContain(false);
      expect(server.audit.events.some((e) => e.type === 'outcome' && e.ok)).toBe(false);
      // The cause stays in the server log, under the same request id: its class and a redacted message,
      // never the secret it carried (issue 12 §5).
      const logged = server.logs.find((line) => line.includes(result.body.error.data.requestId) && line.includes('"msg":"call failed"'));
      expect(logged).toContain('password=[redacted]');
      expect(server.logs.join('\n')).not.toContain('hunter2');
    } finally {
      server.override('create', undefined as never);
    }
  });

  it('records a failed outcome when the output fails validation (after the handler ran)', async () => {
    server.override('create', () => ({ id: 1 }) as never);
    try {
      const result = await rawCall(server.url, 'tickets.create', {
        token: await server.issuer.mint(alice),
        input: { title: 'x', requesterEmail: 'a@example.com' },
        method: 'POST',
      });
      expectRefusal(result, 500, 'ERR_INTERNAL');
      expect(server.audit.events.filter((e) => e.type === 'outcome')).toEqual([expect.objectContaining({ ok: false })]);
    } finally {
      server.override('create', undefined as never);
    }
  });

  it('passes a declared error to the client with its status and message, and records it as a failure', async () => {
    const api = server.client(await server.issuer.mint(alice));
    await api.tickets.create.mutate({ title: 'dup', requesterEmail: 'a@example.com' });
    const error = await api.tickets.create.mutate({ title: 'dup', requesterEmail: 'a@example.com' }).catch((e: unknown) => e);
    expect(isCovenantError(error, 'DUPLICATE_TITLE')).toBe(true);
    expect(error).toMatchObject({ httpStatus: 409, message: 'A ticket with this title is already open' });
    expect(server.audit.events.filter((e) => e.type === 'outcome').map((e) => (e as { ok: boolean }).ok)).toEqual([true, false]);
  });
});

describe('input validation', () => {
  it('answers invalid input with 400 and the issues, without echoing values', async () => {
    const result = await rawCall(server.url, 'tickets.create', {
      token: await server.issuer.mint(alice),
      input: { title: '', requesterEmail: 'not-an-email-secret-value', extra: 1 },
      method: 'POST',
    });
    expectRefusal(result, 400, 'ERR_INPUT_INVALID', ['not-an-email-secret-value']);
    const paths = result.body.error.data.issues.map((issue: { path: unknown[] }) => issue.path.join('.'));
    expect(paths).toEqual(expect.arrayContaining(['title', 'requesterEmail']));
  });

  it('answers malformed JSON and unknown procedures with fixed messages', async () => {
    const response = await fetch(`${server.url}/tickets.create`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${await server.issuer.mint(alice)}` },
      body: '{"title": secret-token-text',
    });
    const text = await response.text();
    expect(response.status).toBe(400);
    expect(text).not.toContain('secret-token-text');
    expectRefusal(await rawCall(server.url, 'tickets.nope'), 404, 'ERR_PROCEDURE_NOT_FOUND');
  });

  it('batches through the generated client: each call gets its own result and request id', async () => {
    const api = server.client(await server.issuer.mint(alice));
    const [mine, list, missing] = await Promise.allSettled([
      api.tickets.mine.query({}),
      api.tickets.list.query({}),
      api.tickets.get.query({ ticketId: 'nope' }),
    ]);
    expect(mine).toMatchObject({ status: 'fulfilled', value: { org: 'org_a' } });
    expect(list).toMatchObject({ status: 'fulfilled', value: { items: [] } });
    expect(missing.status).toBe('rejected');
    expect(isCovenantError((missing as PromiseRejectedResult).reason, 'TICKET_NOT_FOUND')).toBe(true);
  });

  it('splits more calls in one tick than the server takes per batch (20) into several requests: all 45 answered', async () => {
    const api = server.client(await server.issuer.mint(alice));
    const results = await Promise.allSettled(Array.from({ length: 45 }, () => api.tickets.mine.query({})));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(45);
  });
});

describe('security errors raised inside a handler', () => {
  it('keep their status and fixed wire text (never a generic 500, never the server-side message)', async () => {
    const { AccessDeniedError } = await import('@covenant/server');
    server.override('create', () => {
      throw new AccessDeniedError('rbac.escalation for subject alice', 'tickets.admin');
    });
    try {
      const result = await rawCall(server.url, 'tickets.create', {
        token: await server.issuer.mint(alice),
        input: { title: 'x', requesterEmail: 'a@example.com' },
        method: 'POST',
      });
      expectRefusal(result, 403, 'ERR_AUTHZ_DENIED', ['rbac.escalation', 'tickets.admin']);
      expect(server.audit.events.filter((e) => e.type === 'outcome')).toEqual([expect.objectContaining({ ok: false })]);
    } finally {
      server.override('create', undefined as never);
    }
  });
});
