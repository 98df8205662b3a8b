import { describe, expect, it } from 'vitest';
import { registerVerifiedPrincipal } from './principal.ts';
import { createVerifiedTokenCache, passesTimeRules } from './token-cache.ts';
import type { VerifiedTokenEntry } from './token-cache.ts';
import type { TimeRules } from './time-rules.ts';
import { wholeSeconds } from './time-rules.ts';

const NOW_MS = Date.UTC(2030, 0, 1);
const NOW_S = NOW_MS / 1000;

/** An entry as the verifier writes one, from the token's own times (the principal holds them rounded). */
const entry = (overrides: { exp?: number; iat?: number; nbf?: number | null; verifiedAtMs?: number } = {}): VerifiedTokenEntry => {
  const times = Object.freeze({ exp: overrides.exp ?? NOW_S + 300, iat: overrides.iat ?? NOW_S, nbf: overrides.nbf ?? null });
  const principal = registerVerifiedPrincipal({
    subject: 'user_1',
    tenant: { org: 'acme', workspace: null },
    session: null,
    tokenId: null,
    issuer: 'https://issuer.test',
    ...wholeSeconds(times),
  });
  return {
    principal,
    revocationSubject: Object.freeze({
      issuer: principal.issuer,
      subject: principal.subject,
      session: null,
      tokenId: null,
      issuedAt: principal.issuedAt,
      tenant: principal.tenant,
    }),
    times,
    verifiedAtMs: overrides.verifiedAtMs ?? NOW_MS,
  };
};

describe('createVerifiedTokenCache', () => {
  it('never holds more than maxEntries, however many are stored', () => {
    const maxEntries = 10;
    const cache = createVerifiedTokenCache({ maxEntries, maxAgeMs: 60_000 });
    for (let i = 0; i < maxEntries + 25; i += 1) {
      cache.set(`token-${i}`, entry());
      expect(cache.size).toBeLessThanOrEqual(maxEntries);
    }
    expect(cache.size).toBe(maxEntries);
    // The newest ones stayed, the oldest went.
    expect(cache.get(`token-${maxEntries + 24}`, NOW_MS)).toBeDefined();
    expect(cache.get(`token-${maxEntries + 14}`, NOW_MS)).toBeUndefined();
    expect(cache.get('token-0', NOW_MS)).toBeUndefined();
  });

  it('holds one entry with maxEntries 1, and replacing a token does not grow it', () => {
    const cache = createVerifiedTokenCache({ maxEntries: 1, maxAgeMs: 60_000 });
    cache.set('a', entry());
    cache.set('a', entry());
    expect(cache.size).toBe(1);
    cache.set('b', entry());
    expect(cache.size).toBe(1);
    expect(cache.get('a', NOW_MS)).toBeUndefined();
    expect(cache.get('b', NOW_MS)).toBeDefined();
  });

  it('evicts the least recently used, counting a get as a use', () => {
    const cache = createVerifiedTokenCache({ maxEntries: 2, maxAgeMs: 60_000 });
    cache.set('a', entry());
    cache.set('b', entry());
    cache.get('a', NOW_MS);
    cache.set('c', entry());
    expect(cache.get('b', NOW_MS)).toBeUndefined();
    expect(cache.get('a', NOW_MS)).toBeDefined();
    expect(cache.get('c', NOW_MS)).toBeDefined();
  });

  it('drops an entry once it is maxAgeMs old, or when the time is before it or not a number', () => {
    const cache = createVerifiedTokenCache({ maxEntries: 10, maxAgeMs: 60_000 });
    const stored = entry();
    for (const token of ['young', 'old', 'past', 'nan']) cache.set(token, stored);
    expect(cache.get('young', NOW_MS + 59_999)).toBe(stored);
    expect(cache.get('old', NOW_MS + 60_000)).toBeUndefined();
    expect(cache.get('past', NOW_MS - 1)).toBeUndefined();
    expect(cache.get('nan', Number.NaN)).toBeUndefined();
    // Dropped, not only hidden: they are gone at a good time too.
    expect(cache.size).toBe(1);
    expect(cache.get('old', NOW_MS)).toBeUndefined();
  });

  it('deletes', () => {
    const cache = createVerifiedTokenCache({ maxEntries: 10, maxAgeMs: 60_000 });
    cache.set('a', entry());
    cache.delete('a');
    expect(cache.size).toBe(0);
    expect(cache.get('a', NOW_MS)).toBeUndefined();
  });
});

describe('passesTimeRules', () => {
  const rules: TimeRules = { clockToleranceSeconds: 30, maxTokenAgeSeconds: null, maxLifetimeSeconds: 86_400 };
  const at = (offsetMs: number): Date => new Date(NOW_MS + offsetMs);

  it('passes a token inside every limit', () => {
    expect(passesTimeRules(entry(), rules, at(0))).toBe(true);
  });

  it('refuses at exp minus the tolerance, in whole seconds as jose counts', () => {
    const expiring = entry({ exp: NOW_S + 60 });
    expect(passesTimeRules(expiring, rules, at(89_999))).toBe(true);
    expect(passesTimeRules(expiring, rules, at(90_000))).toBe(false);
  });

  it('refuses a fractional exp from its whole second on (the principal’s expiresAt)', () => {
    const fractional = entry({ exp: NOW_S + 60.9 });
    expect(fractional.principal.expiresAt).toBe(NOW_S + 60);
    expect(passesTimeRules(fractional, rules, at(89_999))).toBe(true);
    expect(passesTimeRules(fractional, rules, at(90_000))).toBe(false);
  });

  it('refuses before nbf plus the tolerance', () => {
    const later = entry({ nbf: NOW_S + 40 });
    expect(passesTimeRules(later, rules, at(10_000))).toBe(true);
    expect(passesTimeRules(later, rules, at(9_999))).toBe(false);
  });

  it('refuses an iat beyond now plus the tolerance, on the unrounded time', () => {
    const future = entry({ iat: NOW_S + 30 });
    expect(passesTimeRules(future, rules, at(0))).toBe(true);
    expect(passesTimeRules(future, rules, at(-1))).toBe(false);
    // The token's own fraction decides, not the principal's rounded-down issuedAt.
    const fraction = entry({ iat: NOW_S + 30.25 });
    expect(fraction.principal.issuedAt).toBe(NOW_S + 30);
    expect(passesTimeRules(fraction, rules, at(249))).toBe(false);
    expect(passesTimeRules(fraction, rules, at(250))).toBe(true);
  });

  it('refuses a token older than maxTokenAgeSeconds, or younger than minus the tolerance', () => {
    const aged: TimeRules = { ...rules, maxTokenAgeSeconds: 600 };
    const issued = entry({ iat: NOW_S, exp: NOW_S + 3_600 });
    expect(passesTimeRules(issued, aged, at(630_999))).toBe(true);
    expect(passesTimeRules(issued, aged, at(631_000))).toBe(false);
    // jose's "it should be in the past" rule counts whole seconds: a fractional iat that the verifier's
    // own future-iat rule (unrounded) lets through is still refused when an age is set.
    const early = entry({ iat: NOW_S + 30.25, exp: NOW_S + 3_600 });
    expect(passesTimeRules(early, rules, at(500))).toBe(true);
    expect(passesTimeRules(early, aged, at(500))).toBe(false);
    expect(passesTimeRules(early, aged, at(1_000))).toBe(true);
    // The age counts from the rounded-down iat: older, never younger, than the token says.
    const fractionalAge = entry({ iat: NOW_S + 0.9, exp: NOW_S + 3_600 });
    expect(passesTimeRules(fractionalAge, aged, at(630_999))).toBe(true);
    expect(passesTimeRules(fractionalAge, aged, at(631_000))).toBe(false);
  });

  it('refuses a token that lives longer than maxLifetimeSeconds, whatever the clock says', () => {
    const day = entry({ iat: NOW_S, exp: NOW_S + 86_400 });
    const longer = entry({ iat: NOW_S, exp: NOW_S + 86_400.001 });
    const forever = entry({ iat: NOW_S, exp: 1e300 });
    for (const instant of [at(-20_000), at(0), at(3_600_000)]) {
      expect(passesTimeRules(day, rules, instant)).toBe(true);
      expect(passesTimeRules(longer, rules, instant)).toBe(false);
      expect(passesTimeRules(forever, rules, instant)).toBe(false);
    }
    expect(passesTimeRules(day, { ...rules, maxLifetimeSeconds: 86_399 }, at(0))).toBe(false);
  });

  it('refuses at an invalid time', () => {
    expect(passesTimeRules(entry(), rules, new Date(Number.NaN))).toBe(false);
  });
});
