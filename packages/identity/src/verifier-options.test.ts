import { describe, expect, it } from 'vitest';
import type { JWK } from 'jose';
import { createTestIssuer } from './testing/index.ts';
import type { TokenVerifierOptions } from './verifier-options.ts';
import { createTokenVerifier } from './verify-token.ts';

const issuer = await createTestIssuer({ kids: ['k1'] });
const rsaIssuer = await createTestIssuer({ alg: 'RS256' });
const publicJwk = issuer.jwks().keys[0] as JWK;
const base: TokenVerifierOptions = issuer.verifierOptions();

/** Builds a verifier from deliberately wrong options (casts stand for untyped JavaScript callers). */
const build = (changes: Record<string, unknown>) => () =>
  createTokenVerifier({ ...base, ...changes } as unknown as TokenVerifierOptions);

describe('createTokenVerifier option validation', () => {
  it('accepts the test issuer options', () => {
    expect(build({})).not.toThrow();
  });

  it.each([
    ['HS256 in algorithms', { algorithms: ['ES256', 'HS256'] }, /HS256.*shared-secret/],
    ['HS512 in algorithms', { algorithms: ['HS512'] }, /shared-secret/],
    ['none in algorithms', { algorithms: ['none'] }, /"none"/],
    ['empty algorithms', { algorithms: [] }, /non-empty/],
    ['algorithms not an array', { algorithms: 'ES256' }, /non-empty array/],
    ['an unknown algorithm', { algorithms: ['ES257'] }, /ES257/],
    ['a repeated algorithm', { algorithms: ['ES256', 'ES256'] }, /twice/],
    ['an empty issuer', { issuer: '' }, /issuer/],
    ['an issuer with whitespace', { issuer: ' https://issuer ' }, /issuer/],
    ['an empty audience', { audience: [] }, /audience/],
    ['an empty audience string', { audience: '' }, /audience/],
    ['a tolerance above 300 s', { clockToleranceSeconds: 301 }, /clockToleranceSeconds/],
    ['a negative tolerance', { clockToleranceSeconds: -1 }, /clockToleranceSeconds/],
    ['a NaN tolerance', { clockToleranceSeconds: Number.NaN }, /clockToleranceSeconds/],
    ['a zero byte limit', { maxTokenBytes: 0 }, /maxTokenBytes/],
    ['a fractional byte limit', { maxTokenBytes: 1000.5 }, /maxTokenBytes/],
    ['a zero token age', { maxTokenAgeSeconds: 0 }, /maxTokenAgeSeconds/],
    ['a zero payload depth', { maxPayloadDepth: 0 }, /maxPayloadDepth/],
    ['the old requiredType option', { requiredType: 'at+jwt' }, /"requiredType" was replaced by "types"/],
    ['empty types (a missing typ is never accepted)', { types: [] }, /"types" must be a non-empty array/],
    ['types as a string', { types: 'at+jwt' }, /"types" must be a non-empty array/],
    ['a type that is not a media type', { types: ['at jwt'] }, /"types" contains "at jwt", which is not a media type/],
    ['an empty type', { types: [''] }, /not a media type/],
    ['a type that is not a string', { types: [9068] }, /not a media type/],
    ['a non-ASCII look-alike type', { types: ['\u0430t+jwt'] }, /not a media type/],
    ['a type listed twice (case and application/ aside)', { types: ['at+jwt', 'Application/AT+JWT'] }, /twice/],
    ['a zero lifetime', { maxLifetimeSeconds: 0 }, /"maxLifetimeSeconds" must be a number from 1 to 31536000/],
    ['a lifetime above a year', { maxLifetimeSeconds: 31_536_001 }, /maxLifetimeSeconds/],
    ['an infinite lifetime', { maxLifetimeSeconds: Number.POSITIVE_INFINITY }, /maxLifetimeSeconds/],
    ['a lifetime as a string', { maxLifetimeSeconds: '86400' }, /maxLifetimeSeconds/],
    ['a logger without warn', { logger: {} }, /"logger" must be an object with a warn/],
    ['a logger that is a function', { logger: () => undefined }, /"logger"/],
    ['a null logger', { logger: null }, /"logger"/],
    ['a misspelt option', { clockTolerance: 30 }, /unknown option "clockTolerance"/],
    ['a registered claim as the org claim', { claims: { org: 'sub' } }, /claims\.org/],
    ['the same org and workspace claim', { claims: { org: 'tenant', workspace: 'tenant' } }, /differ/],
    ['an unknown claims option', { claims: { tenant: 'org' } }, /unknown option/],
    ['a revocation without isRevoked', { revocation: {} }, /revocation/],
    ['a clock that is not a function', { clock: new Date() }, /clock/],
    ['a clock returning an invalid date', { clock: { now: () => new Date(Number.NaN) } }, /clock/],
    ['cache: true', { cache: true }, /"cache" must be false or an object/],
    ['cache: null', { cache: null }, /"cache" must be false or an object/],
    ['cache as a number', { cache: 100 }, /"cache" must be false or an object/],
    ['cache as an array', { cache: [] }, /"cache" must be false or an object/],
    ['an unknown cache option', { cache: { maxEntry: 10 } }, /cache has an unknown option "maxEntry"/],
    ['a zero cache size', { cache: { maxEntries: 0 } }, /cache\.maxEntries/],
    ['a negative cache size', { cache: { maxEntries: -5 } }, /cache\.maxEntries/],
    ['a fractional cache size', { cache: { maxEntries: 10.5 } }, /cache\.maxEntries/],
    ['a NaN cache size', { cache: { maxEntries: Number.NaN } }, /cache\.maxEntries/],
    ['an infinite cache size', { cache: { maxEntries: Number.POSITIVE_INFINITY } }, /cache\.maxEntries/],
    ['a cache size as a string', { cache: { maxEntries: '100' } }, /cache\.maxEntries/],
    ['a cache size above 1000000', { cache: { maxEntries: 1_000_001 } }, /cache\.maxEntries/],
    ['a zero cache age', { cache: { maxAgeSeconds: 0 } }, /cache\.maxAgeSeconds" must be a number above 0/],
    ['a negative cache age', { cache: { maxAgeSeconds: -1 } }, /cache\.maxAgeSeconds/],
    ['a NaN cache age', { cache: { maxAgeSeconds: Number.NaN } }, /cache\.maxAgeSeconds/],
    ['an infinite cache age', { cache: { maxAgeSeconds: Number.POSITIVE_INFINITY } }, /cache\.maxAgeSeconds/],
    ['a cache age as a string', { cache: { maxAgeSeconds: '60' } }, /cache\.maxAgeSeconds/],
    ['a cache age above a day', { cache: { maxAgeSeconds: 86_401 } }, /cache\.maxAgeSeconds/],
  ])('refuses %s with a TypeError', (_name, changes, message) => {
    expect(build(changes)).toThrow(TypeError);
    expect(build(changes)).toThrow(message);
  });

  it.each([
    ['no cache option', {}],
    ['cache: false', { cache: false }],
    ['cache: undefined', { cache: undefined }],
    ['an empty cache object', { cache: {} }],
    ['the smallest cache', { cache: { maxEntries: 1, maxAgeSeconds: 0.001 } }],
    ['the largest cache', { cache: { maxEntries: 1_000_000, maxAgeSeconds: 86_400 } }],
    ['JWT beside at+jwt', { types: ['at+jwt', 'JWT'] }],
    ['a spelled-out media type', { types: ['application/at+jwt'] }],
    ['the shortest and longest lifetimes', { maxLifetimeSeconds: 1 }],
    ['a year-long lifetime', { maxLifetimeSeconds: 31_536_000 }],
    ['a pino-like logger', { logger: { warn: () => undefined } }],
  ])('accepts %s', (_name, changes) => {
    expect(build(changes)).not.toThrow();
  });

  it('refuses options that are not an object', () => {
    expect(() => createTokenVerifier(undefined as unknown as TokenVerifierOptions)).toThrow(TypeError);
  });

  describe('a local key set', () => {
    it.each([
      ['an EC private key (d)', { ...publicJwk, d: 'AAAA' }, /private key material \("d"\)/],
      ['an RSA private key (p)', { ...rsaIssuer.jwks().keys[0], p: 'AAAA' }, /private key material \("p"\)/],
      ['a symmetric key', { kty: 'oct', k: 'c2VjcmV0' }, /symmetric/],
      ['an unknown kty', { ...publicJwk, kty: 'XYZ' }, /kty/],
      ['a key that is not an object', 'key', /JSON Web Key object/],
      ['an empty kid', { ...publicJwk, kid: '' }, /kid/],
      ['an RSA key under 2048 bits', { ...rsaIssuer.jwks().keys[0], n: 'AQAB' }, /2048/],
    ])('refuses %s', (_name, key, message) => {
      const change = build({ keys: { jwks: { keys: [key] } } });
      expect(change).toThrow(TypeError);
      expect(change).toThrow(message);
    });

    it('refuses a key set with no keys, or none usable with the allowed algorithms', () => {
      expect(build({ keys: { jwks: { keys: [] } } })).toThrow(/at least one key/);
      expect(build({ keys: { jwks: {} } })).toThrow(TypeError);
      expect(build({ keys: { jwks: rsaIssuer.jwks() } })).toThrow(/no key usable/);
    });

    it('refuses two keys with the same kid', () => {
      expect(build({ keys: { jwks: { keys: [publicJwk, { ...publicJwk }] } } })).toThrow(/repeats "kid"/);
    });

    it('refuses both or neither of jwks and jwksUrl, and unknown key options', () => {
      expect(build({ keys: { jwks: issuer.jwks(), jwksUrl: 'https://idp.example.com/jwks' } })).toThrow(
        /exactly one/,
      );
      expect(build({ keys: {} })).toThrow(/exactly one/);
      expect(build({ keys: { jwks: issuer.jwks(), cooldownMs: 0 } })).toThrow(/unknown option "cooldownMs"/);
    });
  });

  describe('a remote key set URL', () => {
    it.each([
      ['https://idp.example.com/.well-known/jwks.json'],
      ['http://127.0.0.1:8080/jwks'],
      ['http://[::1]:8080/jwks'],
      ['http://localhost/jwks'],
    ])('accepts %s', (jwksUrl) => {
      expect(build({ keys: { jwksUrl } })).not.toThrow();
      expect(build({ keys: { jwksUrl: new URL(jwksUrl) } })).not.toThrow();
    });

    it.each([
      ['plain http to a remote host', 'http://idp.example.com/jwks', /https/],
      ['plain http to a private address', 'http://10.0.0.1/jwks', /https/],
      ['http to a host that only starts like localhost', 'http://localhost.example.com/jwks', /https/],
      ['another scheme', 'file:///etc/jwks.json', /https/],
      ['a relative URL', '/jwks', /absolute URL/],
      ['credentials in the URL', 'https://user:pass@idp.example.com/jwks', /credentials/],
    ])('refuses %s', (_name, jwksUrl, message) => {
      expect(build({ keys: { jwksUrl } })).toThrow(TypeError);
      expect(build({ keys: { jwksUrl } })).toThrow(message);
    });

    it.each([
      [{ timeoutMs: 0 }],
      [{ timeoutMs: 1.5 }],
      [{ cooldownMs: -1 }],
      [{ cacheMaxAgeMs: Number.POSITIVE_INFINITY }],
      [{ retries: 3 }],
    ])('refuses the fetch option %j', (option) => {
      expect(build({ keys: { jwksUrl: 'https://idp.example.com/jwks', ...option } })).toThrow(TypeError);
    });
  });
});
