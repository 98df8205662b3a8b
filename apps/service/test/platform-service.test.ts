import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isCovenantError } from '@covenant/client';
import { createTokenVerifier } from '@covenant/identity';
import { createCovenantRuntime, createHttpServer } from '@covenant/server';
import { createTestIssuer, type TestIssuer } from '@covenant/testkit';
import type { Server } from 'node:http';
import { pino } from 'pino';
import { createClient } from '../src/generated/client.ts';
import { createRouter } from '../src/generated/router.ts';
import { handlers } from '../src/handlers.ts';
import { denyAllAuthorization, noLedgerAudit } from '../src/unavailable-ports.ts';

// The service `npm start` runs, assembled the same way as src/main.ts, with a test issuer.
let issuer: TestIssuer;
let server: Server;
let url: string;

beforeAll(async () => {
  issuer = await createTestIssuer();
  const covenant = createCovenantRuntime({
    identity: createTokenVerifier(issuer.verifierOptions()),
    authorization: denyAllAuthorization,
    audit: noLedgerAudit,
    logger: pino({ level: 'silent' }),
  });
  server = createHttpServer(covenant, createRouter(covenant, handlers));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

describe('the platform service', () => {
  it('answers the sanctioned health check without a token', async () => {
    await expect(createClient({ url }).platform.health.query({})).resolves.toEqual({ status: 'ok' });
  });

  it('tells a verified caller who it is, tenant from the token', async () => {
    const token = await issuer.mint({ sub: 'dana', org: 'org_x', workspace: 'ws_1', sid: 's1' });
    const me = await createClient({ url, token: () => token }).platform.whoami.query({});
    expect(me).toMatchObject({ subject: 'dana', org: 'org_x', workspace: 'ws_1', session: 's1' });
  });

  it('refuses whoami without a token (401)', async () => {
    const error = await createClient({ url }).platform.whoami.query({}).catch((e: unknown) => e);
    expect(isCovenantError(error, 'ERR_IDENTITY_TOKEN_MISSING')).toBe(true);
    expect((error as { httpStatus: number }).httpStatus).toBe(401);
  });

  it('fails closed on its placeholder ports: capability checks are denied, audited calls refused', async () => {
    const denied = await denyAllAuthorization.check({
      principal: await createTokenVerifier(issuer.verifierOptions()).verify(await issuer.mint({ sub: 'a', org: 'o' })),
      capability: 'tickets.read',
      resource: null,
    });
    expect(denied.allowed).toBe(false);
    let ran = false;
    const action = async () => ((ran = true), { ok: true });
    await expect(noLedgerAudit.audited({} as never, action)).rejects.toMatchObject({ code: 'ERR_AUDIT_UNAVAILABLE' });
    expect(ran).toBe(false);
  });
});
