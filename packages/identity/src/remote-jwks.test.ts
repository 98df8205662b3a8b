import { createServer } from 'node:http';
import type { Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair } from 'jose';
import type { JSONWebKeySet } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectDenied } from '../test/expect-denied.ts';
import { KeyNotFoundError, KeysUnavailableError } from './errors.ts';
import { createTestIssuer } from './testing/index.ts';
import type { TestIssuer } from './testing/index.ts';
import type { RemoteKeySetOptions } from './verifier-options.ts';
import { createTokenVerifier } from './verify-token.ts';
import type { TokenVerifier } from './verify-token.ts';

const CLAIMS = { sub: 'user_1', org: 'acme' } as const;
const CLAIMS_MATCH = { subject: 'user_1', tenant: { org: 'acme', workspace: null } };
const UNAVAILABLE = { code: 'ERR_IDENTITY_KEYS_UNAVAILABLE', status: 503 } as const;

/** A real JWKS endpoint on 127.0.0.1: what each path serves, and how often it was asked. */
let server: Server;
let base: string;
let issuer: TestIssuer;
const served = new Map<string, JSONWebKeySet>();
const hits = new Map<string, number>();
const held: ServerResponse[] = [];

beforeAll(async () => {
  issuer = await createTestIssuer({ kids: ['k1', 'k2'] });
  const { privateKey } = await generateKeyPair('ES256', { extractable: true });
  served.set('/private', { keys: [{ ...(await exportJWK(privateKey)), kid: 'k1', alg: 'ES256' }] });

  server = createServer((request, response) => {
    const path = request.url ?? '';
    hits.set(path, (hits.get(path) ?? 0) + 1);
    const jwks = served.get(path);
    if (jwks !== undefined) {
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(jwks));
    } else if (path === '/slow') {
      held.push(response); // never answers; released in afterAll
    } else if (path === '/error') {
      response.writeHead(500).end();
    } else if (path === '/garbage') {
      response.writeHead(200, { 'content-type': 'application/json' }).end('{"keys":');
    } else if (path === '/not-a-key-set') {
      response.writeHead(200, { 'content-type': 'application/json' }).end('{"keys":"none"}');
    } else if (path === '/redirect') {
      response.writeHead(302, { location: '/static' }).end();
    } else {
      response.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  for (const response of held) response.destroy();
  server.closeAllConnections();
  await new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
});

const remote = (path: string, options: Omit<RemoteKeySetOptions, 'jwksUrl'> = {}): TokenVerifier =>
  createTokenVerifier({ ...issuer.verifierOptions(), keys: { jwksUrl: `${base}${path}`, ...options } });

describe('a remote JWKS', () => {
  it('verifies with the fetched key set, fetched once and cached', async () => {
    served.set('/static', issuer.jwks());
    const verifier = remote('/static');
    await expect(verifier.verify(await issuer.mint(CLAIMS, { kid: 'k1' }))).resolves.toMatchObject(CLAIMS_MATCH);
    await expect(verifier.verify(await issuer.mint(CLAIMS, { kid: 'k2' }))).resolves.toMatchObject(CLAIMS_MATCH);
    expect(hits.get('/static')).toBe(1);
  });

  it('picks up a rotated-in kid by refetching (cooldown 0)', async () => {
    served.set('/rotating', issuer.jwks(['k1']));
    const verifier = remote('/rotating', { cooldownMs: 0 });
    await expect(verifier.verify(await issuer.mint(CLAIMS, { kid: 'k1' }))).resolves.toMatchObject(CLAIMS_MATCH);
    expect(hits.get('/rotating')).toBe(1);

    served.set('/rotating', issuer.jwks(['k1', 'k2']));
    await expect(verifier.verify(await issuer.mint(CLAIMS, { kid: 'k2' }))).resolves.toMatchObject(CLAIMS_MATCH);
    expect(hits.get('/rotating')).toBe(2);
  });

  it('refuses the retired kid once the cached set has aged out', async () => {
    served.set('/retiring', issuer.jwks(['k1', 'k2']));
    const verifier = remote('/retiring', { cooldownMs: 0, cacheMaxAgeMs: 0 });
    const oldToken = await issuer.mint(CLAIMS, { kid: 'k1' });
    await expect(verifier.verify(oldToken)).resolves.toMatchObject(CLAIMS_MATCH);
    served.set('/retiring', issuer.jwks(['k2']));
    await expectDenied(verifier.verify(oldToken), KeyNotFoundError, {
      code: 'ERR_IDENTITY_KEY_NOT_FOUND',
      status: 401,
    }, [oldToken]);
    await expect(verifier.verify(await issuer.mint(CLAIMS, { kid: 'k2' }))).resolves.toMatchObject(CLAIMS_MATCH);
  });

  it('honours a cached token no longer than the key set max age, then refuses the retired kid', async () => {
    served.set('/cached-retiring', issuer.jwks(['k1', 'k2']));
    const start = Date.now();
    let now = new Date(start);
    const verifier = createTokenVerifier({
      ...issuer.verifierOptions(),
      keys: { jwksUrl: `${base}/cached-retiring`, cooldownMs: 0, cacheMaxAgeMs: 200 },
      cache: { maxAgeSeconds: 60 },
      clock: () => now,
    });
    const oldToken = await issuer.mint(CLAIMS, { kid: 'k1' });
    const principal = await verifier.verify(oldToken);
    expect(hits.get('/cached-retiring')).toBe(1);

    served.set('/cached-retiring', issuer.jwks(['k2']));
    // jose's copy of the set goes stale on the real clock: any verification through jose now refetches.
    await new Promise((resolve) => setTimeout(resolve, 250));
    now = new Date(start + 199);
    await expect(verifier.verify(oldToken)).resolves.toBe(principal);
    expect(hits.get('/cached-retiring')).toBe(1); // a hit: the key set was not even looked at

    // 200 ms, the key set's max age, not the cache's 60 s: the retired kid is refused.
    now = new Date(start + 200);
    await expectDenied(verifier.verify(oldToken), KeyNotFoundError, {
      code: 'ERR_IDENTITY_KEY_NOT_FOUND',
      status: 401,
    }, [oldToken]);
    // Refetched (stale, then once more for the unknown kid with cooldown 0).
    expect(hits.get('/cached-retiring')).toBeGreaterThan(1);
  });

  it('caches nothing when the key set is refetched on every verification (cacheMaxAgeMs 0)', async () => {
    served.set('/uncached', issuer.jwks(['k1']));
    const verifier = remote('/uncached', { cacheMaxAgeMs: 0 });
    const token = await issuer.mint(CLAIMS, { kid: 'k1' });
    const first = await verifier.verify(token);
    const second = await verifier.verify(token);
    expect(second).not.toBe(first);
    expect(hits.get('/uncached')).toBe(2);
  });

  it('does not refetch for unknown kids within the cooldown (no fetch amplification)', async () => {
    served.set('/cooldown', issuer.jwks(['k1']));
    const verifier = remote('/cooldown');
    await verifier.verify(await issuer.mint(CLAIMS, { kid: 'k1' }));
    for (let i = 0; i < 5; i += 1) {
      await expect(verifier.verify(await issuer.forge.unknownKid(CLAIMS))).rejects.toBeInstanceOf(KeyNotFoundError);
    }
    expect(hits.get('/cooldown')).toBe(1);
  });

  it('answers 503 when the endpoint is unreachable', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const verifier = createTokenVerifier({
      ...issuer.verifierOptions(),
      keys: { jwksUrl: `http://127.0.0.1:${port}/jwks` },
    });
    const token = await issuer.mint(CLAIMS);
    const error = await expectDenied(verifier.verify(token), KeysUnavailableError, UNAVAILABLE, [token]);
    expect(error.wireCode).toBe('ERR_IDENTITY_KEYS_UNAVAILABLE');
    expect(error.cause).toBeDefined();
  });

  it('answers 503 when the endpoint is too slow', async () => {
    const verifier = remote('/slow', { timeoutMs: 150 });
    const token = await issuer.mint(CLAIMS);
    const error = await expectDenied(verifier.verify(token), KeysUnavailableError, UNAVAILABLE, [token]);
    expect(error.message).toContain('timeout');
  });

  it.each([
    ['answers 500', '/error'],
    ['answers a body that is not JSON', '/garbage'],
    ['answers JSON that is not a key set', '/not-a-key-set'],
    ['serves a private key', '/private'],
    ['redirects (redirects are not followed)', '/redirect'],
    ['is not found', '/missing'],
  ])('answers 503 when the endpoint %s', async (_name, path) => {
    const token = await issuer.mint(CLAIMS);
    await expectDenied(remote(path).verify(token), KeysUnavailableError, UNAVAILABLE, [token]);
  });

  it('checks the token before fetching anything', async () => {
    const before = hits.get('/lazy') ?? 0;
    served.set('/lazy', issuer.jwks());
    const verifier = remote('/lazy');
    await expect(verifier.verify(await issuer.forge.algNone(CLAIMS))).rejects.toThrow();
    await expect(verifier.verify('not.a.token')).rejects.toThrow();
    expect(hits.get('/lazy') ?? 0).toBe(before);
  });
});
