import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isCovenantError } from '@covenant/client';
import { createCheckpointSigner } from '@covenant/ledger';
import { createMemoryRevocationList } from '@covenant/identity';
import { createTestIssuer, type TestIssuer } from '@covenant/testkit';
import { pino } from 'pino';
import { createClient } from '../src/generated/client.ts';
import { createService, type Service } from '../src/service.ts';

// The service `npm start` runs, assembled by the same createService as src/main.ts, with a test issuer.
let issuer: TestIssuer;
let service: Service;
let url: string;

beforeAll(async () => {
  issuer = await createTestIssuer();
  service = await createService({
    identity: issuer.verifierOptions(),
    databaseUrl: ':memory:',
    logger: pino({ level: 'silent' }),
    ledgerSigner: createCheckpointSigner({ name: 'test.example/ledger', privateKey: new Uint8Array(32).fill(7) }),
  });
  await new Promise<void>((resolve) => service.server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(service.server.address() as AddressInfo).port}`;
});
afterAll(() => service.close());

describe('the platform service', () => {
  it('builds its verifier with its own revocation store: a revocation option is refused at assembly', async () => {
    const options = { ...issuer.verifierOptions(), revocation: createMemoryRevocationList() };
    await expect(
      createService({ identity: options as never, databaseUrl: ':memory:', ledgerSigner: createCheckpointSigner({ name: 'x.example/l', privateKey: new Uint8Array(32).fill(3) }) }),
    ).rejects.toThrow(/"identity.revocation" is the service's own revocation store/);
    expect(service.identity).toBeDefined();
  });

  it('answers the sanctioned health check without a token', async () => {
    await expect(createClient({ url }).platform.health.query({})).resolves.toEqual({ status: 'ok' });
  });

  it('tells a verified caller who it is, tenant from the token', async () => {
    const token = await issuer.mint({ sub: 'dana', org: 'org_x', workspace: 'ws_1', sid: 's1' });
    const me = await createClient({ url, token: () => token }).platform.whoami.query({});
    expect(me).toMatchObject({ subject: 'dana', org: 'org_x', workspace: 'ws_1', session: 's1' });
  });

  it('answers whoami with 200 and whole seconds for a token with a fractional exp (never a 500)', async () => {
    const now = Math.floor(Date.now() / 1000);
    const claims = { ...issuer.claims({ sub: 'dana', org: 'org_x', sid: 's1' }), iat: now - 0.25, exp: now + 300.75 };
    const token = await issuer.forge.rawSigned(issuer.headerJson(), JSON.stringify(claims));
    // Raw HTTP: the status is the point (the output declares an integer; a fraction there was a 500).
    const response = await fetch(`${url}/platform.whoami?input=%7B%7D`, { headers: { authorization: `Bearer ${token}` } });
    expect(response.status).toBe(200);
    const body = (await response.json()) as { result: { data: { expiresAt: number } } };
    expect(body.result.data.expiresAt).toBe(now + 300);
  });

  it('refuses whoami without a token (401)', async () => {
    const error = await createClient({ url }).platform.whoami.query({}).catch((e: unknown) => e);
    expect(isCovenantError(error, 'ERR_IDENTITY_TOKEN_MISSING')).toBe(true);
    expect((error as { httpStatus: number }).httpStatus).toBe(401);
  });

  it('denies a capability nobody granted (default deny): 403, not the handler', async () => {
    const token = await issuer.mint({ sub: 'dana', org: 'org_x' });
    const error = await createClient({ url, token: () => token }).rbac.roles.list.query({}).catch((e: unknown) => e);
    expect(isCovenantError(error, 'ERR_AUTHZ_DENIED')).toBe(true);
    expect((error as { httpStatus: number }).httpStatus).toBe(403);
  });
});
