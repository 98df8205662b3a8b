import { createServer } from 'node:http';
import type { Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair } from 'jose';
import type { JSONWebKeySet, JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectDenied } from '../test/expect-denied.ts';
import { KeyNotFoundError, KeysUnavailableError } from './errors.ts';
import { createTestIssuer } from './testing/index.ts';
import type { TestIssuer } from './testing/index.ts';
import type { RemoteKeySetOptions, VerifierLogger } from './verifier-options.ts';
import { createTokenVerifier } from './verify-token.ts';
import type { TokenVerifier } from './verify-token.ts';

const CLAIMS = { sub: 'user_1', org: 'acme' } as const;
const CLAIMS_MATCH = { subject: 'user_1', tenant: { org: 'acme', workspace: null } };
const UNAVAILABLE = { code: 'ERR_IDENTITY_KEYS_UNAVAILABLE', status: 503 } as const;

/** A real JWKS endpoint on 127.0.0.1: what each path serves, and how often it was asked. */
let server: Server;
let base: string;
let issuer: TestIssuer;
/** Key sets with no key an ES256 verifier can use, each served at `/unusable/<name>`. */
const unusable = new Map<string, JSONWebKeySet>();
const served = new Map<string, JSONWebKeySet>();
const hits = new Map<string, number>();
const held: ServerResponse[] = [];

beforeAll(async () => {
  issuer = await createTestIssuer({ kids: ['k1', 'k2'] });
  const { privateKey } = await generateKeyPair('ES256', { extractable: true });
  served.set('/private', { keys: [{ ...(await exportJWK(privateKey)), kid: 'k1', alg: 'ES256' }] });

  const k2 = issuer.jwks(['k2']).keys[0] as JWK;
  const p384 = await exportJWK((await generateKeyPair('ES384', { extractable: true })).publicKey);
  const rsa = await exportJWK((await generateKeyPair('RS256', { extractable: true, modulusLength: 2048 })).publicKey);
  const { x: _x, ...noX } = k2;
  const { use: _use, ...noUse } = k2;
  unusable.set('empty', { keys: [] });
  unusable.set('only-oct', { keys: [{ kty: 'oct', k: 'c2VjcmV0LXNoYXJlZC13aXRoLWV2ZXJ5b25l', kid: 'k2', alg: 'HS256' }] });
  unusable.set('another-kty', { keys: [{ ...rsa, kid: 'k2', alg: 'RS256' }] });
  unusable.set('another-crv', { keys: [{ ...p384, kid: 'k2' }] });
  unusable.set('private-keys', { keys: [{ ...(await exportJWK(privateKey)), kid: 'k2', alg: 'ES256' }] });
  unusable.set('a-public-key-beside-a-private-one', { keys: [k2, { ...(await exportJWK(privateKey)), kid: 'k3' }] });
  unusable.set('alg-none', { keys: [{ ...k2, alg: 'none' }] });
  unusable.set('encryption-keys', { keys: [{ ...k2, use: 'enc' }] });
  unusable.set('signing-only-key-ops', { keys: [{ ...noUse, key_ops: ['sign'] }] });
  unusable.set('a-key-missing-x', { keys: [noX as JWK] });
  for (const [name, jwks] of unusable) served.set(`/unusable/${name}`, jwks);

  server = createServer((request, response) => {
    const path = (request.url ?? '').split('?')[0] ?? '';
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

/** A logger that keeps what the verifier reports. */
function recordingLogger(): VerifierLogger & { readonly lines: Array<{ details: object; message: string }> } {
  const lines: Array<{ details: object; message: string }> = [];
  return { lines, warn: (details, message) => void lines.push({ details, message }) };
}

/** The key material and tokens a log line must never carry. */
function secretsOf(jwks: JSONWebKeySet, tokens: ReadonlyArray<string>): string[] {
  const members = jwks.keys.flatMap((key) =>
    ['x', 'y', 'n', 'd', 'k', 'p', 'q'].map((name) => (key as Record<string, unknown>)[name]).filter((v): v is string => typeof v === 'string'),
  );
  return [...members, ...tokens, ...tokens.map((t) => t.split('.')[1] as string)];
}

describe('a remote JWKS that answers a key set with no usable key (never replaces the working set)', () => {
  const names = (): string[] => [...unusable.keys()];

  it.each([
    ['{"keys":[]}', 'empty'],
    ['only oct (symmetric) keys', 'only-oct'],
    ['keys of another kty', 'another-kty'],
    ['keys of another curve', 'another-crv'],
    ['private keys', 'private-keys'],
    ['a public key beside a private one (refused whole)', 'a-public-key-beside-a-private-one'],
    ['keys with alg none', 'alg-none'],
    ['encryption keys (use enc)', 'encryption-keys'],
    ['keys whose key_ops do not include verify', 'signing-only-key-ops'],
    ['a key that does not import (x missing)', 'a-key-missing-x'],
  ])('keeps the working set when a refetch answers %s: the unknown kid is 401, known kids still verify, it is logged', async (_name, name) => {
    expect(names()).toContain(name);
    const path = `/swap/${name}`;
    served.set(path, issuer.jwks(['k1']));
    const logger = recordingLogger();
    // No verified-token cache: every call below goes to the key set.
    const verifier = createTokenVerifier({
      ...issuer.verifierOptions(),
      keys: { jwksUrl: `${base}${path}`, cooldownMs: 0 },
      cache: false,
      logger,
    });
    const known = await issuer.mint(CLAIMS, { kid: 'k1' });
    await expect(verifier.verify(known)).resolves.toMatchObject(CLAIMS_MATCH);
    expect(hits.get(path)).toBe(1);

    // The endpoint now answers the unusable set; a token naming a kid the working set lacks refetches it.
    served.set(path, unusable.get(name)!);
    const unknown = await issuer.mint(CLAIMS, { kid: 'k2' });
    await expectDenied(verifier.verify(unknown), KeyNotFoundError, { code: 'ERR_IDENTITY_KEY_NOT_FOUND', status: 401 }, [unknown]);
    expect(hits.get(path)).toBe(2);
    // The working set was kept: the known kid still verifies (that is what failed before).
    await expect(verifier.verify(known)).resolves.toMatchObject(CLAIMS_MATCH);
    await expect(verifier.verify(await issuer.mint(CLAIMS, { kid: 'k1' }))).resolves.toMatchObject(CLAIMS_MATCH);

    expect(logger.lines).toHaveLength(1);
    expect(logger.lines[0]!.details).toMatchObject({ jwksUrl: `${base}${path}`, keptWorkingSet: true });
    const logged = JSON.stringify(logger.lines);
    for (const secret of secretsOf(unusable.get(name)!, [known, unknown])) expect(logged).not.toContain(secret);

    // A usable set replaces it as before: the rotated-in kid is picked up.
    served.set(path, issuer.jwks(['k1', 'k2']));
    await expect(verifier.verify(unknown)).resolves.toMatchObject(CLAIMS_MATCH);
    expect(hits.get(path)).toBe(3);
    expect(logger.lines).toHaveLength(1);
  });

  it.each([['empty'], ['only-oct'], ['another-kty'], ['private-keys']])(
    'answers 503 keys-unavailable when the first fetch has no usable key (%s), and logs it',
    async (name) => {
      const logger = recordingLogger();
      const verifier = createTokenVerifier({ ...issuer.verifierOptions(), keys: { jwksUrl: `${base}/unusable/${name}` }, logger });
      const token = await issuer.mint(CLAIMS, { kid: 'k1' });
      const error = await expectDenied(verifier.verify(token), KeysUnavailableError, UNAVAILABLE, [token]);
      expect(error.reason).toBe('no_usable_key');
      expect(error.wireCode).toBe('ERR_IDENTITY_KEYS_UNAVAILABLE');
      expect(logger.lines).toHaveLength(1);
      expect(logger.lines[0]!.details).toMatchObject({ keptWorkingSet: false, keys: unusable.get(name)!.keys.length });
    },
  );

  it('logs only the endpoint’s origin and path (a query string may carry a credential)', async () => {
    const logger = recordingLogger();
    const verifier = createTokenVerifier({
      ...issuer.verifierOptions(),
      keys: { jwksUrl: `${base}/unusable/empty?api_key=secret-in-the-query` },
      logger,
    });
    await expect(verifier.verify(await issuer.mint(CLAIMS))).rejects.toBeInstanceOf(KeysUnavailableError);
    expect(JSON.stringify(logger.lines)).not.toContain('secret-in-the-query');
    expect(logger.lines[0]!.details).toMatchObject({ jwksUrl: `${base}/unusable/empty` });
  });
});

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
      clock: { now: () => now },
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
