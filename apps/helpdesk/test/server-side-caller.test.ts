import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMemoryRevocationList, createTokenVerifier } from '@covenant/identity';
import type { Principal } from '@covenant/identity';
import { startFixtureServer, type FixtureServer } from './harness.ts';

let server: FixtureServer;
beforeAll(async () => {
  server = await startFixtureServer();
});
afterAll(async () => {
  await server.close();
});

describe('server-side callers present a verified principal too', () => {
  it('runs the full pipeline for a principal the identity package verified', async () => {
    const principal = await server.verifier.verify(await server.issuer.mint({ sub: 'alice', org: 'org_a' }));
    const caller = server.runtime.createCaller(server.router, { principal });
    await expect(caller.tickets.mine({})).resolves.toEqual({ subject: 'alice', org: 'org_a' });
  });

  it('accepts a bearer token and verifies it like HTTP does', async () => {
    const caller = server.runtime.createCaller(server.router, { token: await server.issuer.mint({ sub: 'alice', org: 'org_a' }) });
    await expect(caller.tickets.mine({})).resolves.toEqual({ subject: 'alice', org: 'org_a' });
    const bad = server.runtime.createCaller(server.router, { token: await server.issuer.forge.algNone({ sub: 'alice', org: 'org_a' }) });
    await expect(bad.tickets.mine({})).rejects.toMatchObject({ code: 'UNAUTHORIZED' });
  });

  it('refuses a forged principal: an object shaped like one is not a verified principal', async () => {
    const forged: Principal = {
      subject: 'alice',
      tenant: { org: 'org_a', workspace: null },
      session: null,
      tokenId: null,
      issuer: server.issuer.issuer,
      issuedAt: Math.floor(Date.now() / 1000),
      expiresAt: Math.floor(Date.now() / 1000) + 3600,
    };
    const caller = server.runtime.createCaller(server.router, { principal: forged });
    const error = await caller.tickets.mine({}).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'UNAUTHORIZED', cause: { code: 'ERR_IDENTITY_PRINCIPAL_UNVERIFIED' } });
    // A copy of a real principal is just as forged: verification is by identity, not by shape.
    const real = await createTokenVerifier(server.issuer.verifierOptions()).verify(await server.issuer.mint({ sub: 'alice', org: 'org_a' }));
    const copy = server.runtime.createCaller(server.router, { principal: { ...real } });
    await expect(copy.tickets.mine({})).rejects.toMatchObject({ cause: { code: 'ERR_IDENTITY_PRINCIPAL_UNVERIFIED' } });
  });

  it('refuses a principal another verifier instance verified: only the runtime\'s verifier can check it again', async () => {
    const elsewhere = await createTokenVerifier(server.issuer.verifierOptions()).verify(await server.issuer.mint({ sub: 'alice', org: 'org_a' }));
    const caller = server.runtime.createCaller(server.router, { principal: elsewhere });
    await expect(caller.tickets.mine({})).rejects.toMatchObject({ code: 'UNAUTHORIZED', cause: { code: 'ERR_IDENTITY_PRINCIPAL_UNKNOWN' } });
  });

  it('refuses a verified principal once its token has expired, and one whose session was revoked since', async () => {
    let now = new Date();
    const revocations = createMemoryRevocationList();
    const clocked = await startFixtureServer({ verifier: { clock: { now: () => now }, revocation: revocations } });
    try {
      // Verified now, valid for one minute: a job that holds it for two finds it expired.
      const token = await clocked.issuer.mint({ sub: 'alice', org: 'org_a', sid: 'sid_job' }, { expiresIn: 60 });
      const principal = await clocked.verifier.verify(token);
      const caller = clocked.runtime.createCaller(clocked.router, { principal });
      await expect(caller.tickets.mine({})).resolves.toEqual({ subject: 'alice', org: 'org_a' });
      now = new Date(now.getTime() + 120_000);
      await expect(caller.tickets.mine({})).rejects.toMatchObject({ code: 'UNAUTHORIZED', cause: { code: 'ERR_IDENTITY_TOKEN_EXPIRED' } });
      // Still within its lifetime, but the session is revoked meanwhile: refused too.
      now = new Date(now.getTime() - 120_000);
      revocations.revokeSession('sid_job');
      await expect(caller.tickets.mine({})).rejects.toMatchObject({ code: 'UNAUTHORIZED', cause: { code: 'ERR_IDENTITY_TOKEN_REVOKED' } });
    } finally {
      await clocked.close();
    }
  });

  it('still applies authorization and tenancy to server-side calls', async () => {
    const caller = server.runtime.createCaller(server.router, { token: await server.issuer.mint({ sub: 'carol', org: 'org_a' }) });
    await expect(caller.tickets.list({})).rejects.toMatchObject({ code: 'FORBIDDEN' });
    const alice = server.runtime.createCaller(server.router, { token: await server.issuer.mint({ sub: 'alice', org: 'org_a' }) });
    await expect(
      alice.tickets.create({ title: 't', requesterEmail: 'a@example.com', orgId: 'org_b' } as never),
    ).rejects.toMatchObject({ code: 'BAD_REQUEST', cause: { code: 'ERR_TENANCY_KEY_IN_INPUT' } });
  });
});
