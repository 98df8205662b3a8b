import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { errors, jwtVerify } from 'jose';
import type { JSONWebKeySet, JWTVerifyGetKey } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KeysUnavailableError } from './errors.ts';
import { createRemoteKeySet } from './remote-key-set.ts';
import type { RemoteKeySetSource } from './remote-key-set.ts';
import { createTestIssuer } from './testing/index.ts';
import type { TestIssuer } from './testing/index.ts';

// The remote key set on its own, against a real endpoint on 127.0.0.1, with an injected wall clock so that
// cooldowns and ages are decided without sleeping.
const CLAIMS = { sub: 'user_1', org: 'acme' } as const;
const COOLDOWN = 30_000;
const MAX_AGE = 600_000;

let server: Server;
let base: string;
let issuer: TestIssuer;
const served = new Map<string, JSONWebKeySet>();
const hits = new Map<string, number>();

beforeAll(async () => {
  issuer = await createTestIssuer({ kids: ['k1', 'k2'] });
  server = createServer((request, response) => {
    const path = request.url ?? '';
    hits.set(path, (hits.get(path) ?? 0) + 1);
    const jwks = served.get(path);
    if (jwks === undefined) response.writeHead(404).end();
    else response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(jwks));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

/** A key set on `path`, its wall clock at `clock.ms`, and what it logged. */
function keySet(path: string) {
  const clock = { ms: 1_000_000 };
  const warnings: object[] = [];
  const source: RemoteKeySetSource = { url: new URL(`${base}${path}`), timeoutMs: 5_000, cooldownMs: COOLDOWN, cacheMaxAgeMs: MAX_AGE };
  const getKey = createRemoteKeySet(source, ['ES256'], { warn: (details) => void warnings.push(details) }, () => clock.ms);
  return { clock, warnings, getKey };
}

const verify = async (token: string, getKey: JWTVerifyGetKey) => jwtVerify(token, getKey, { algorithms: ['ES256'] });

describe('createRemoteKeySet', () => {
  it('starts the cooldown on a refused refetch too: random kids cannot make it fetch again and again', async () => {
    const path = '/cooldown-after-refusal';
    served.set(path, issuer.jwks(['k1']));
    const { clock, warnings, getKey } = keySet(path);
    await verify(await issuer.mint(CLAIMS, { kid: 'k1' }), getKey);
    expect(hits.get(path)).toBe(1);

    served.set(path, { keys: [] });
    clock.ms += COOLDOWN; // the cooldown since the first fetch is over: the next unknown kid refetches
    const unknown = await issuer.forge.unknownKid(CLAIMS);
    await expect(verify(unknown, getKey)).rejects.toBeInstanceOf(errors.JWKSNoMatchingKey);
    expect(hits.get(path)).toBe(2);
    for (let i = 0; i < 5; i += 1) {
      await expect(verify(await issuer.forge.unknownKid(CLAIMS), getKey)).rejects.toBeInstanceOf(errors.JWKSNoMatchingKey);
    }
    expect(hits.get(path)).toBe(2); // the refused attempt started the cooldown
    expect(warnings).toHaveLength(1);

    clock.ms += COOLDOWN;
    await expect(verify(unknown, getKey)).rejects.toBeInstanceOf(errors.JWKSNoMatchingKey);
    expect(hits.get(path)).toBe(3);
    // All the while, the working set served its known kid.
    await expect(verify(await issuer.mint(CLAIMS, { kid: 'k1' }), getKey)).resolves.toBeDefined();
  });

  it('trusts a working set no longer than its max age: once stale, a refused refetch is 503, not the stale keys', async () => {
    const path = '/stale-then-refused';
    served.set(path, issuer.jwks(['k1']));
    const { clock, getKey } = keySet(path);
    const known = await issuer.mint(CLAIMS, { kid: 'k1' });
    await verify(known, getKey);

    served.set(path, { keys: [{ kty: 'oct', k: 'c2VjcmV0' }] });
    clock.ms += MAX_AGE - 1;
    await expect(verify(known, getKey)).resolves.toBeDefined(); // still fresh: no fetch at all
    expect(hits.get(path)).toBe(1);
    clock.ms += 1;
    const error = await verify(known, getKey).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KeysUnavailableError);
    expect((error as KeysUnavailableError).reason).toBe('no_usable_key');
    expect(hits.get(path)).toBe(2);

    // The endpoint recovers: the next call refetches and verifies.
    served.set(path, issuer.jwks(['k1']));
    await expect(verify(known, getKey)).resolves.toBeDefined();
    expect(hits.get(path)).toBe(3);
  });

  it('a refused refetch does not make the kept set count as fresh', async () => {
    const path = '/refused-is-not-fresh';
    served.set(path, issuer.jwks(['k1']));
    const { clock, getKey } = keySet(path);
    const known = await issuer.mint(CLAIMS, { kid: 'k1' });
    await verify(known, getKey);
    served.set(path, { keys: [] });
    clock.ms += MAX_AGE - 1_000; // cooldown over, set still fresh
    await expect(verify(await issuer.forge.unknownKid(CLAIMS), getKey)).rejects.toBeInstanceOf(errors.JWKSNoMatchingKey);
    expect(hits.get(path)).toBe(2);
    clock.ms += 1_000; // MAX_AGE after the fetch that brought the set, only 1 s after the refused one
    await expect(verify(known, getKey)).rejects.toBeInstanceOf(KeysUnavailableError);
  });

  it('shares one fetch among concurrent callers', async () => {
    const path = '/concurrent';
    served.set(path, issuer.jwks(['k1', 'k2']));
    const { getKey } = keySet(path);
    const tokens = await Promise.all([issuer.mint(CLAIMS, { kid: 'k1' }), issuer.mint(CLAIMS, { kid: 'k2' }), issuer.mint(CLAIMS)]);
    await Promise.all(tokens.map((token) => verify(token, getKey)));
    expect(hits.get(path)).toBe(1);
  });
});
