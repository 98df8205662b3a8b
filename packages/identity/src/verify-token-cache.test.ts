import { Buffer } from 'node:buffer';
import { jwtVerify } from 'jose';
import { beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { SECRET_ORG, SECRET_SUB, expectDenied } from '../test/expect-denied.ts';
import {
  ClaimInvalidError,
  IdentityError,
  KeyNotFoundError,
  RevocationUnavailableError,
  SignatureInvalidError,
  TokenExpiredError,
  TokenMalformedError,
  TokenNotYetValidError,
  TokenRevokedError,
} from './errors.ts';
import { isVerifiedPrincipal } from './principal.ts';
import type { Principal } from './principal.ts';
import { createMemoryRevocationList } from './revocation.ts';
import type { RevocationCheck, RevocationSubject } from './revocation.ts';
import { createTestIssuer } from './testing/index.ts';
import type { MintOptions, TestIssuer } from './testing/index.ts';
import type { TokenVerifierOptions } from './verifier-options.ts';
import { createTokenVerifier } from './verify-token.ts';
import type { TokenVerifier } from './verify-token.ts';

// Every full verification goes through jose's jwtVerify (which is what calls the key resolver); a cache
// hit must not. Wrapping it in a spy counts exactly that, with jose's real behaviour kept.
vi.mock('jose', async (importOriginal) => {
  const actual = await importOriginal<typeof import('jose')>();
  return { ...actual, jwtVerify: vi.fn(actual.jwtVerify) };
});
const fullVerifications = (): number => vi.mocked(jwtVerify).mock.calls.length;

const NOW = new Date('2030-01-01T00:00:00Z');
const NOW_MS = NOW.getTime();
const NOW_S = NOW_MS / 1000;
const CLAIMS = { sub: SECRET_SUB, org: SECRET_ORG } as const;

const EXPIRED = { code: 'ERR_IDENTITY_TOKEN_EXPIRED', status: 401 } as const;
const REVOKED = { code: 'ERR_IDENTITY_TOKEN_REVOKED', status: 401 } as const;
const MALFORMED = { code: 'ERR_IDENTITY_TOKEN_MALFORMED', status: 401 } as const;
const UNAVAILABLE = { code: 'ERR_IDENTITY_REVOCATION_UNAVAILABLE', status: 503 } as const;

let issuer: TestIssuer;
/** The clock every verifier here reads; tests move it. */
let now: Date = NOW;
const clock = { now: (): Date => now };
const at = (offsetMs: number): Date => new Date(NOW_MS + offsetMs);

const make = (extra: Partial<TokenVerifierOptions> = {}): TokenVerifier =>
  createTokenVerifier({ ...issuer.verifierOptions(), clock, ...extra });
const mint = (claims: Record<string, unknown> = {}, options?: MintOptions): Promise<string> =>
  issuer.mint({ ...CLAIMS, ...claims }, options);

/** What a verification came to: `ok`, or the error class and, for claim errors, the claim. */
async function outcome(attempt: Promise<Principal>): Promise<string> {
  try {
    await attempt;
    return 'ok';
  } catch (error) {
    if (!(error instanceof IdentityError)) throw error;
    const claim = (error as { claim?: unknown }).claim;
    return typeof claim === 'string' ? `${error.constructor.name}(${claim})` : error.constructor.name;
  }
}

beforeAll(async () => {
  issuer = await createTestIssuer({ alg: 'EdDSA', kids: ['k1', 'k2'], clock: { now: () => NOW } });
});

beforeEach(() => {
  now = NOW;
  vi.mocked(jwtVerify).mockClear();
});

describe('the verified-token cache: a hit', () => {
  it('returns the same frozen, registered principal without verifying again', async () => {
    const verifier = make();
    const token = await mint({ sid: 'session_1', jti: 'jti_1' });
    const first = await verifier.verify(token);
    expect(fullVerifications()).toBe(1);
    const second = await verifier.verify(token);
    const third = await verifier.verifyAuthorizationHeader(`Bearer ${token}`);
    expect(fullVerifications()).toBe(1);
    expect(second).toBe(first);
    expect(third).toBe(first);
    expect(Object.isFrozen(second)).toBe(true);
    expect(Object.isFrozen(second.tenant)).toBe(true);
    expect(isVerifiedPrincipal(second)).toBe(true);
  });

  it('is per verifier, and per exact token text', async () => {
    const token = await mint();
    const verifier = make();
    await verifier.verify(token);
    await make().verify(token);
    expect(fullVerifications()).toBe(2);
    // The same claims signed again are another token: verified in full.
    await verifier.verify(await mint());
    expect(fullVerifications()).toBe(3);
  });

  it('is not used when the cache is off: every call verifies in full', async () => {
    const verifier = make({ cache: false });
    const token = await mint();
    const principals = [await verifier.verify(token), await verifier.verify(token), await verifier.verify(token)];
    expect(fullVerifications()).toBe(3);
    expect(new Set(principals).size).toBe(3);
    for (const principal of principals) expect(isVerifiedPrincipal(principal)).toBe(true);
  });

  it('keeps serving concurrent verifications of one cold token (each verified; then cached)', async () => {
    const verifier = make();
    const token = await mint();
    const principals = await Promise.all([verifier.verify(token), verifier.verify(token), verifier.verify(token)]);
    for (const principal of principals) expect(isVerifiedPrincipal(principal)).toBe(true);
    const calls = fullVerifications();
    await verifier.verify(token);
    expect(fullVerifications()).toBe(calls);
  });
});

describe('the verified-token cache: time', () => {
  it('refuses a cached token at exp (with the tolerance) with the error an uncached verification raises', async () => {
    // The entry age limit is set apart so that only the token's own exp decides here.
    const cached = make({ cache: { maxAgeSeconds: 3_600 } });
    const uncached = make({ cache: false });
    const token = await mint({}, { expiresIn: 60 });
    const principal = await cached.verify(token);

    // exp + 30 s tolerance - 1 ms: jose counts whole seconds, so this is still valid, and a hit.
    now = at((60 + 30) * 1000 - 1);
    await expect(cached.verify(token)).resolves.toBe(principal);
    expect(fullVerifications()).toBe(1);
    await expect(uncached.verify(token)).resolves.toBeDefined();

    now = at((60 + 30) * 1000);
    const fromCache = await expectDenied(cached.verify(token), TokenExpiredError, EXPIRED, [token]);
    const fresh = await expectDenied(uncached.verify(token), TokenExpiredError, EXPIRED, [token]);
    expect(fromCache.claim).toBe('exp');
    expect(fresh.claim).toBe('exp');
    expect(fromCache.message).toBe(fresh.message);
    // Asked again, the token goes through the full path (and fails) again: nothing was kept from it.
    await expect(cached.verify(token)).rejects.toBeInstanceOf(TokenExpiredError);
    expect(fullVerifications()).toBe(5);
  });

  it('uses the configured tolerance, down to 0', async () => {
    const strict = make({ clockToleranceSeconds: 0 });
    const token = await mint({}, { expiresIn: 10 });
    await strict.verify(token);
    now = at(9_999);
    await expect(strict.verify(token)).resolves.toBeDefined();
    expect(fullVerifications()).toBe(1);
    now = at(10_000);
    await expectDenied(strict.verify(token), TokenExpiredError, EXPIRED, [token]);
  });

  it('refuses a cached token older than maxTokenAgeSeconds with the error an uncached verification raises', async () => {
    const options = { maxTokenAgeSeconds: 600, cache: { maxAgeSeconds: 3_600 } } as const;
    const cached = make(options);
    const uncached = make({ ...options, cache: false });
    const token = await mint({}, { issuedAt: NOW_S - 500, expiresIn: 3_600 });
    const principal = await cached.verify(token);

    // age - tolerance > 600 is expired: age 630 is not, age 631 is.
    now = at((100 + 30) * 1000 + 999);
    await expect(cached.verify(token)).resolves.toBe(principal);
    expect(fullVerifications()).toBe(1);

    now = at((100 + 31) * 1000);
    const fromCache = await expectDenied(cached.verify(token), TokenExpiredError, EXPIRED, [token]);
    const fresh = await expectDenied(uncached.verify(token), TokenExpiredError, EXPIRED, [token]);
    expect(fromCache.claim).toBe('iat');
    expect(fresh.claim).toBe('iat');
  });

  it('verifies in full again once an entry is maxAgeSeconds old, then caches the new result', async () => {
    const verifier = make({ cache: { maxAgeSeconds: 60 } });
    const token = await mint({}, { expiresIn: 3_600 });
    const first = await verifier.verify(token);
    now = at(59_999);
    await expect(verifier.verify(token)).resolves.toBe(first);
    expect(fullVerifications()).toBe(1);

    now = at(60_000);
    const second = await verifier.verify(token);
    expect(fullVerifications()).toBe(2);
    expect(second).not.toBe(first);
    expect(isVerifiedPrincipal(second)).toBe(true);
    now = at(119_999);
    await expect(verifier.verify(token)).resolves.toBe(second);
    expect(fullVerifications()).toBe(2);
  });

  it('does not honour an entry when the clock goes back: the full path decides (nbf)', async () => {
    const cached = make();
    const uncached = make({ cache: false });
    // nbf 20 s ahead: valid now within the 30 s tolerance, not valid 11 s earlier.
    const token = await mint({}, { notBefore: NOW_S + 20 });
    await cached.verify(token);
    now = at(-11_000);
    await expectDenied(cached.verify(token), TokenNotYetValidError, {
      code: 'ERR_IDENTITY_TOKEN_NOT_YET_VALID',
      status: 401,
    }, [token]);
    await expect(uncached.verify(token)).rejects.toBeInstanceOf(TokenNotYetValidError);
    expect(fullVerifications()).toBe(3);
  });

  it('does not honour an entry when the clock goes back: the full path decides (iat in the future)', async () => {
    const cached = make();
    const token = await mint({}, { issuedAt: NOW_S + 25 });
    await cached.verify(token);
    now = at(-6_000);
    const error = await expectDenied(cached.verify(token), ClaimInvalidError, {
      code: 'ERR_IDENTITY_CLAIM_INVALID',
      status: 401,
    }, [token]);
    expect(error.claim).toBe('iat');
  });

  it('does not honour an entry when the clock answers an invalid date', async () => {
    let broken = false;
    const verifier = make({ clock: { now: () => (broken ? new Date(Number.NaN) : NOW) } });
    const uncached = make({ clock: { now: () => (broken ? new Date(Number.NaN) : NOW) }, cache: false });
    const token = await mint();
    await verifier.verify(token);
    broken = true;
    await expectDenied(verifier.verify(token), TokenMalformedError, MALFORMED, [token]);
    await expectDenied(uncached.verify(token), TokenMalformedError, MALFORMED, [token]);
  });

  it('decides exactly as an uncached verification at every instant around each time limit', async () => {
    const seconds = (s: number): number => s * 1000;
    const cases: Array<{
      name: string;
      options: Partial<TokenVerifierOptions>;
      mint: MintOptions;
      limits: number[]; // seconds after NOW where a rule flips
    }> = [];
    for (const tolerance of [0, 2.5, 30]) {
      cases.push({
        name: `exp, tolerance ${tolerance}`,
        options: { clockToleranceSeconds: tolerance },
        mint: { expiresIn: 60 },
        limits: [60 + tolerance],
      });
      cases.push({
        name: `maxTokenAge, tolerance ${tolerance}`,
        options: { clockToleranceSeconds: tolerance, maxTokenAgeSeconds: 600.5 },
        mint: { issuedAt: NOW_S - 500, expiresIn: 3_600 },
        limits: [100.5 + tolerance],
      });      // A fractional exp expires from its whole second on (the principal's expiresAt), in both paths.
      cases.push({
        name: `fractional exp, tolerance ${tolerance}`,
        options: { clockToleranceSeconds: tolerance },
        mint: { expiresIn: 60.75 },
        limits: [60 + tolerance, 60.75 + tolerance],
      });
      // The age counts from the rounded-down iat.
      cases.push({
        name: `maxTokenAge with a fractional iat, tolerance ${tolerance}`,
        options: { clockToleranceSeconds: tolerance, maxTokenAgeSeconds: 600.5 },
        mint: { issuedAt: NOW_S - 499.25, expiresIn: 3_600 },
        limits: [100.5 + tolerance, 100.75 + tolerance],
      });
      // An iat ahead of the clock (within the tolerance): a clock that goes back must not skip the rule.
      cases.push({
        name: `future fractional iat, tolerance ${tolerance}`,
        options: { clockToleranceSeconds: tolerance, maxTokenAgeSeconds: 600 },
        mint: { issuedAt: NOW_S + tolerance - 0.25, expiresIn: 3_600 },
        limits: [-0.25, -1],
      });
      // The lifetime cap does not depend on the clock: exactly at the limit it holds until exp ...
      cases.push({
        name: `lifetime at the limit, tolerance ${tolerance}`,
        options: { clockToleranceSeconds: tolerance, maxLifetimeSeconds: 120 },
        mint: { issuedAt: NOW_S - 60, expiresIn: 60 },
        limits: [60 + tolerance],
      });
    }
    // ... and beyond it nothing is cached, so nothing is served from the cache at any instant.
    cases.push({
      name: 'lifetime beyond the limit',
      options: { maxLifetimeSeconds: 120 },
      mint: { issuedAt: NOW_S - 60, expiresIn: 60.5 },
      limits: [0, 60],
    });
    for (const { name, options, mint: mintOptions, limits } of cases) {
      const token = await mint({}, mintOptions);
      const instants = [0, 1, 999, 1_000];
      for (const limit of limits) {
        for (let delta = -2_000; delta <= 2_000; delta += 250) instants.push(seconds(limit) + delta);
        instants.push(seconds(Math.floor(limit)) - 1, seconds(Math.ceil(limit)) - 1, seconds(Math.ceil(limit)));
      }
      for (const instant of instants) {
        now = NOW;
        const cached = make({ ...options, cache: { maxAgeSeconds: 86_400 } });
        // Primed at NOW (a token refused there is simply not cached).
        await outcome(cached.verify(token));
        now = at(instant);
        const calls = fullVerifications();
        const expected = await outcome(make({ ...options, cache: false }).verify(token));
        const actual = await outcome(cached.verify(token));
        expect(actual, `${name} at +${instant} ms`).toBe(expected);
        // A token still valid is a hit: only the uncached verifier went to jose.
        if (expected === 'ok') expect(fullVerifications() - calls, `${name} at +${instant} ms`).toBe(1);
      }
    }
  });
});

describe('the verified-token cache never bypasses revocation', () => {
  it('refuses a cached token once its jti is revoked', async () => {
    const list = createMemoryRevocationList({ clock });
    const verifier = make({ revocation: list });
    const token = await mint({ jti: 'jti-cached' });
    const principal = await verifier.verify(token);
    await expect(verifier.verify(token)).resolves.toBe(principal);
    list.revokeToken('jti-cached', new Date(principal.expiresAt * 1000));
    await expectDenied(verifier.verify(token), TokenRevokedError, REVOKED, [token]);
    await expectDenied(verifier.verify(token), TokenRevokedError, REVOKED, [token]);
    expect(fullVerifications()).toBe(1); // refused on the hit path itself
  });

  it('refuses a cached token once its session is revoked', async () => {
    const list = createMemoryRevocationList({ clock });
    const verifier = make({ revocation: list });
    const token = await mint({ sid: 'session-cached' });
    await verifier.verify(token);
    list.revokeSession('session-cached');
    await expectDenied(verifier.verify(token), TokenRevokedError, REVOKED, [token]);
    expect(fullVerifications()).toBe(1);
  });

  it('refuses a cached token once its subject is revoked', async () => {
    const list = createMemoryRevocationList({ clock });
    const verifier = make({ revocation: list });
    const token = await mint();
    const later = await mint({}, { issuedAt: NOW_S + 5 });
    await verifier.verify(token);
    await verifier.verify(later);
    list.revokeSubject(SECRET_SUB, new Date((NOW_S + 1) * 1000));
    await expectDenied(verifier.verify(token), TokenRevokedError, REVOKED, [token]);
    await expect(verifier.verify(later)).resolves.toMatchObject({ subject: SECRET_SUB });
    expect(fullVerifications()).toBe(2);
  });

  it('asks the port on every hit, with the same frozen subject', async () => {
    const seen: RevocationSubject[] = [];
    const verifier = make({ revocation: { isRevoked: (subject) => (seen.push(subject), false) } });
    const token = await mint({ sid: 's1', jti: 'j1' });
    for (let i = 0; i < 4; i += 1) await verifier.verify(token);
    expect(fullVerifications()).toBe(1);
    expect(seen).toHaveLength(4);
    expect(new Set(seen).size).toBe(1);
    expect(Object.isFrozen(seen[0])).toBe(true);
    expect(seen[0]).toEqual({
      issuer: issuer.issuer,
      subject: SECRET_SUB,
      session: 's1',
      tokenId: 'j1',
      issuedAt: NOW_S,
      tenant: { org: SECRET_ORG, workspace: null },
    });
  });

  it.each([
    ['throws', () => { throw new Error('store down'); }],
    ['rejects', () => Promise.reject(new Error('store down'))],
    ['answers a non-boolean', () => 'no' as unknown as boolean],
  ])('fails closed with 503 on a hit when the port %s', async (_name, failure) => {
    let down = false;
    const verifier = make({ revocation: { isRevoked: () => (down ? failure() : false) } });
    const token = await mint();
    const principal = await verifier.verify(token);
    down = true;
    const error = await expectDenied(verifier.verify(token), RevocationUnavailableError, UNAVAILABLE, [token]);
    expect(error.status).toBe(503);
    expect(fullVerifications()).toBe(1);
    // An outage is no verdict on the token: once the port answers again, the entry serves again.
    down = false;
    await expect(verifier.verify(token)).resolves.toBe(principal);
    expect(fullVerifications()).toBe(1);
  });
});

describe('the verified-token cache is bounded', () => {
  it('evicts the least recently used token when full, and only that one', async () => {
    const verifier = make({ cache: { maxEntries: 3 } });
    const [a, b, c, d] = await Promise.all([mint(), mint(), mint(), mint()]) as [string, string, string, string];
    for (const token of [a, b, c]) await verifier.verify(token);
    expect(fullVerifications()).toBe(3);
    await verifier.verify(a); // a becomes the most recently used; b is now the oldest
    expect(fullVerifications()).toBe(3);
    await verifier.verify(d); // full: evicts b
    expect(fullVerifications()).toBe(4);
    for (const token of [a, c, d]) await verifier.verify(token);
    expect(fullVerifications()).toBe(4);
    await verifier.verify(b); // evicted: verified in full again (and evicts a, now the oldest)
    expect(fullVerifications()).toBe(5);
  });

  it('holds at most maxEntries tokens however many pass through it', async () => {
    const maxEntries = 5;
    const verifier = make({ cache: { maxEntries } });
    const tokens = await Promise.all(Array.from({ length: maxEntries + 7 }, () => mint()));
    for (const token of tokens) await verifier.verify(token);
    expect(fullVerifications()).toBe(tokens.length);
    // The newest maxEntries are hits …
    for (const token of tokens.slice(-maxEntries)) await verifier.verify(token);
    expect(fullVerifications()).toBe(tokens.length);
    // … and every older one was evicted: each is a full verification again.
    for (const token of tokens.slice(0, -maxEntries)) await verifier.verify(token);
    expect(fullVerifications()).toBe(tokens.length + tokens.length - maxEntries);
  });
});

describe('the verified-token cache never keeps a failure', () => {
  it.each([
    ['a tampered signature', () => mint().then((t) => issuer.forge.tampered(t)), SignatureInvalidError],
    ['an expired token', () => issuer.forge.expired(CLAIMS), TokenExpiredError],
    ['an unknown kid', () => issuer.forge.unknownKid(CLAIMS), KeyNotFoundError],
    ['a claim rule', () => mint({ sub: 'user\nforged' }), ClaimInvalidError],
  ])('%s fails every time, each time verified in full', async (_name, build, errorClass) => {
    const verifier = make();
    const token = await build();
    for (let i = 1; i <= 3; i += 1) {
      await expect(verifier.verify(token)).rejects.toBeInstanceOf(errorClass);
      expect(fullVerifications()).toBe(i);
    }
  });

  it('a token refused by revocation is verified in full on the next call too', async () => {
    let verdict: boolean | Error = true;
    const revocation: RevocationCheck = {
      isRevoked: () => {
        if (verdict instanceof Error) throw verdict;
        return verdict;
      },
    };
    const verifier = make({ revocation });
    const token = await mint();
    await expect(verifier.verify(token)).rejects.toBeInstanceOf(TokenRevokedError);
    verdict = new Error('store down');
    await expect(verifier.verify(token)).rejects.toBeInstanceOf(RevocationUnavailableError);
    expect(fullVerifications()).toBe(2);
    verdict = false;
    const principal = await verifier.verify(token);
    expect(fullVerifications()).toBe(3);
    await expect(verifier.verify(token)).resolves.toBe(principal);
    expect(fullVerifications()).toBe(3);
  });

  it('a non-canonical spelling of a cached token is another key, and refused', async () => {
    const verifier = make();
    const token = await mint();
    const principal = await verifier.verify(token);
    const respelled = nonCanonical(token);
    expect(respelled).not.toBe(token);
    await expectDenied(verifier.verify(respelled), TokenMalformedError, MALFORMED, [token, respelled]);
    await expectDenied(verifier.verify(`${token} `), TokenMalformedError, MALFORMED, [token]);
    await expectDenied(verifier.verify(`${token}.`), TokenMalformedError, MALFORMED, [token]);
    // Refused by the precheck, before jose; the original is still a hit.
    expect(fullVerifications()).toBe(1);
    await expect(verifier.verify(token)).resolves.toBe(principal);
    expect(fullVerifications()).toBe(1);
  });
});

/** Changes the last character of the signature so it decodes to the same bytes (stray low bits set). */
function nonCanonical(token: string): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  const index = alphabet.indexOf(token.at(-1) as string);
  // Ed25519 signatures are 64 bytes: 4 spare bits in the last character; flipping bit 0 is safe.
  const changed = `${token.slice(0, -1)}${alphabet[index ^ 1]}`;
  const signature = (t: string): string => Buffer.from(t.split('.')[2] as string, 'base64url').toString('hex');
  expect(signature(changed)).toBe(signature(token));
  return changed;
}
