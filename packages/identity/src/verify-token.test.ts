import { Buffer } from 'node:buffer';
import type { JWK } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { SECRET_ORG, SECRET_SUB, expectDenied } from '../test/expect-denied.ts';
import {
  AlgorithmNotAllowedError,
  ClaimInvalidError,
  DuplicateMemberError,
  HeaderExtensionRefusedError,
  KeyNotFoundError,
  PayloadTooDeepError,
  RevocationUnavailableError,
  SignatureInvalidError,
  TenantClaimInvalidError,
  TokenExpiredError,
  TokenLifetimeError,
  TokenMalformedError,
  TokenMissingError,
  TokenNotYetValidError,
  TokenRevokedError,
  TokenTooLargeError,
  TokenTypeInvalidError,
} from './errors.ts';
import { isVerifiedPrincipal } from './principal.ts';
import { createMemoryRevocationList } from './revocation.ts';
import type { RevocationCheck, RevocationSubject } from './revocation.ts';
import { createTestIssuer } from './testing/index.ts';
import type { TestAlgorithm, TestIssuer } from './testing/index.ts';
import type { TokenVerifierOptions } from './verifier-options.ts';
import { createTokenVerifier } from './verify-token.ts';
import type { TokenVerifier } from './verify-token.ts';

const NOW = new Date('2030-01-01T00:00:00Z');
const NOW_S = Math.floor(NOW.getTime() / 1000);
const fixedClock = { now: (): Date => NOW };
const CLAIMS = { sub: SECRET_SUB, org: SECRET_ORG } as const;

const MALFORMED = { code: 'ERR_IDENTITY_TOKEN_MALFORMED', status: 401 } as const;
const CLAIM_INVALID = { code: 'ERR_IDENTITY_CLAIM_INVALID', status: 401 } as const;
const TENANT_INVALID = { code: 'ERR_IDENTITY_TENANT_CLAIM_INVALID', status: 401 } as const;
const DUPLICATE = { code: 'ERR_IDENTITY_DUPLICATE_MEMBER', status: 401 } as const;
const NOT_ALLOWED = { code: 'ERR_IDENTITY_ALGORITHM_NOT_ALLOWED', status: 401 } as const;
const EXPIRED = { code: 'ERR_IDENTITY_TOKEN_EXPIRED', status: 401 } as const;
const REVOKED = { code: 'ERR_IDENTITY_TOKEN_REVOKED', status: 401 } as const;
const TYPE_INVALID = { code: 'ERR_IDENTITY_TOKEN_TYPE_INVALID', status: 401 } as const;
const EXTENSION_REFUSED = { code: 'ERR_IDENTITY_HEADER_EXTENSION_REFUSED', status: 401 } as const;
const LIFETIME = { code: 'ERR_IDENTITY_TOKEN_LIFETIME_EXCEEDED', status: 401 } as const;

const b64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64url');

/** Every case runs once per key family. */
const ALGORITHMS: ReadonlyArray<TestAlgorithm> = ['ES256', 'EdDSA', 'RS256'];

for (const alg of ALGORITHMS) {
  describe(`createTokenVerifier (${alg})`, () => {
    let issuer: TestIssuer;
    let verifier: TokenVerifier;
    const make = (extra: Partial<TokenVerifierOptions> = {}): TokenVerifier =>
      createTokenVerifier({ ...issuer.verifierOptions(), clock: fixedClock, ...extra });
    /** A payload with every default claim, serialised by hand for `forge.rawSigned`. */
    const payloadWith = (fields: Record<string, unknown>, omit: ReadonlyArray<string> = []): string => {
      const payload: Record<string, unknown> = { ...issuer.claims(CLAIMS), ...fields };
      for (const name of omit) delete payload[name];
      return JSON.stringify(payload);
    };
    /** The default payload text with `insert` spliced in before the closing brace. */
    const payloadPlus = (insert: string): string => `${payloadWith({}).slice(0, -1)},${insert}}`;

    beforeAll(async () => {
      issuer = await createTestIssuer({ alg, kids: ['k1', 'k2'], clock: fixedClock });
      verifier = make();
    });

    describe('a valid token', () => {
      it('verifies into a frozen, registered principal', async () => {
        const token = await issuer.mint({ ...CLAIMS, workspace: 'ws_1', sid: 'session_1', jti: 'jti_1' });
        const principal = await verifier.verify(token);
        expect(principal).toEqual({
          subject: SECRET_SUB,
          tenant: { org: SECRET_ORG, workspace: 'ws_1' },
          session: 'session_1',
          tokenId: 'jti_1',
          issuer: issuer.issuer,
          issuedAt: NOW_S,
          expiresAt: NOW_S + 300,
        });
        expect(Object.isFrozen(principal)).toBe(true);
        expect(Object.isFrozen(principal.tenant)).toBe(true);
        expect(isVerifiedPrincipal(principal)).toBe(true);
      });

      it('defaults the optional claims to null', async () => {
        const token = await issuer.mint(CLAIMS, { omit: ['jti'] });
        const principal = await verifier.verify(token);
        expect(principal.tenant.workspace).toBeNull();
        expect(principal.session).toBeNull();
        expect(principal.tokenId).toBeNull();
        expect(principal.issuedAt).toBe(NOW_S);
      });

      it('rounds fractional times down to whole seconds (exp, iat)', async () => {
        const token = await issuer.forge.rawSigned(
          issuer.headerJson(),
          payloadWith({ iat: NOW_S - 0.75, exp: NOW_S + 300.9, nbf: NOW_S - 0.5 }),
        );
        const principal = await verifier.verify(token);
        expect(principal.issuedAt).toBe(NOW_S - 1);
        expect(principal.expiresAt).toBe(NOW_S + 300);
        expect(Number.isSafeInteger(principal.issuedAt) && Number.isSafeInteger(principal.expiresAt)).toBe(true);
      });

      it('counts a fractional exp as expired from its whole second on (the principal never outlives its expiresAt)', async () => {
        const token = await issuer.forge.rawSigned(issuer.headerJson(), payloadWith({ exp: NOW_S + 60.5 }));
        // floor(exp) + tolerance: the principal's expiresAt decides, not the fraction jose would still honour.
        const at = (ms: number): TokenVerifier => make({ clock: { now: () => new Date((NOW_S + 60 + 30) * 1000 + ms) } });
        await expect(at(-1).verify(token)).resolves.toMatchObject({ expiresAt: NOW_S + 60 });
        await expectDenied(at(0).verify(token), TokenExpiredError, EXPIRED, [token]);
      });

      it('verifies from an Authorization header, any case of the scheme', async () => {
        const token = await issuer.mint(CLAIMS);
        await expect(verifier.verifyAuthorizationHeader(`Bearer ${token}`)).resolves.toMatchObject({
          subject: SECRET_SUB,
        });
        await expect(verifier.verifyAuthorizationHeader(`bearer ${token}`)).resolves.toMatchObject({
          subject: SECRET_SUB,
        });
      });

      it('accepts an audience list that contains ours', async () => {
        const token = await issuer.mint({ ...CLAIMS, aud: ['other-api', issuer.audience] });
        await expect(verifier.verify(token)).resolves.toMatchObject({ subject: SECRET_SUB });
      });

      it('uses the configured tenant claim names', async () => {
        const custom = make({ claims: { org: 'tenant_org', workspace: 'tenant_ws' } });
        const token = await issuer.mint({ ...CLAIMS, tenant_org: 'acme', tenant_ws: 'ws_2' });
        await expect(custom.verify(token)).resolves.toMatchObject({ tenant: { org: 'acme', workspace: 'ws_2' } });
      });
    });

    describe('refuses a missing or malformed token', () => {
      it('no token', async () => {
        const missing = { code: 'ERR_IDENTITY_TOKEN_MISSING', status: 401 } as const;
        await expectDenied(verifier.verify(''), TokenMissingError, missing);
        await expectDenied(verifier.verifyAuthorizationHeader(undefined), TokenMissingError, missing);
        await expectDenied(verifier.verifyAuthorizationHeader(''), TokenMissingError, missing);
      });

      it.each([
        ['another scheme', (t: string) => `Basic ${t}`],
        ['two spaces', (t: string) => `Bearer  ${t}`],
        ['trailing space', (t: string) => `Bearer ${t} `],
        ['two tokens', (t: string) => `Bearer ${t} ${t}`],
        ['a comma list', (t: string) => `Bearer ${t}, Bearer ${t}`],
        ['no scheme', (t: string) => t],
      ])('a malformed Authorization header: %s', async (_name, header) => {
        const token = await issuer.mint(CLAIMS);
        await expectDenied(verifier.verifyAuthorizationHeader(header(token)), TokenMalformedError, MALFORMED, [token]);
      });

      it('an oversize token, before any decoding', async () => {
        const huge = `${'a'.repeat(9000)}.b.c`;
        await expectDenied(verifier.verify(huge), TokenTooLargeError, {
          code: 'ERR_IDENTITY_TOKEN_TOO_LARGE',
          status: 401,
        });
      });

      it('a validly signed token over the byte limit', async () => {
        const token = await issuer.mint({ ...CLAIMS, padding: 'x'.repeat(300) });
        const small = make({ maxTokenBytes: 300 });
        await expectDenied(small.verify(token), TokenTooLargeError, {
          code: 'ERR_IDENTITY_TOKEN_TOO_LARGE',
          status: 401,
        }, [token]);
      });

      it('counts bytes, not characters', async () => {
        const small = make({ maxTokenBytes: 300 });
        await expect(small.verify('é'.repeat(200))).rejects.toBeInstanceOf(TokenTooLargeError);
      });

      it.each([
        ['two segments', (t: string) => t.split('.').slice(0, 2).join('.')],
        ['four segments', (t: string) => `${t}.AAAA`],
        ['an empty signature', (t: string) => `${t.split('.').slice(0, 2).join('.')}.`],
        ['an empty payload', (t: string) => t.replace(/\.[^.]+\./, '..')],
        ['standard base64 characters', (t: string) => `${t.slice(0, -2)}+/`],
        ['padding', (t: string) => t.replace('.', '=.')],
        ['whitespace', (t: string) => ` ${t}`],
        ['a non-canonical last character', (t: string) => nonCanonical(t)],
      ])('a token with %s', async (_name, change) => {
        const token = await issuer.mint(CLAIMS);
        await expectDenied(verifier.verify(change(token)), TokenMalformedError, MALFORMED, [token]);
      });

      it.each([
        ['a payload that is an array', '[1,2]'],
        ['a payload that is a string', '"sub"'],
        ['a payload that is not JSON', '{"sub":'],
      ])('%s, even validly signed', async (_name, payload) => {
        const token = await issuer.forge.rawSigned(issuer.headerJson(), payload);
        await expectDenied(verifier.verify(token), TokenMalformedError, MALFORMED, [token]);
      });

      it('a payload that is not UTF-8', async () => {
        const header = b64(issuer.headerJson());
        const payload = Buffer.from([0x7b, 0xff, 0x7d]).toString('base64url');
        await expectDenied(verifier.verify(`${header}.${payload}.AAAA`), TokenMalformedError, MALFORMED);
      });

      it('a value that is not a string at all', async () => {
        await expectDenied(verifier.verify(42 as unknown as string), TokenMalformedError, MALFORMED);
      });
    });

    describe('refuses JWS extensions (crit, b64): Covenant defines none', () => {
      const headerWith = (extra: Record<string, unknown>): string => JSON.stringify({ ...JSON.parse(issuer.headerJson()), ...extra });

      it.each([
        ['an extension it does not understand', { crit: ['exp-ext'], 'exp-ext': 1 }, 'crit'],
        ['b64 listed twice, b64 true', { crit: ['b64', 'b64'], b64: true }, 'crit'],
        ['b64 critical and true', { crit: ['b64'], b64: true }, 'crit'],
        ['b64 critical and false (unencoded payload)', { crit: ['b64'], b64: false }, 'crit'],
        ['an empty crit', { crit: [] }, 'crit'],
        ['crit that is not an array', { crit: 'b64' }, 'crit'],
        ['b64 without crit', { b64: true }, 'b64'],
        ['b64 false without crit', { b64: false }, 'b64'],
      ])('a validly signed token with %s', async (_name, extra, parameter) => {
        const token = await issuer.forge.rawSigned(headerWith(extra), payloadWith({}));
        const error = await expectDenied(verifier.verify(token), HeaderExtensionRefusedError, EXTENSION_REFUSED, [token]);
        expect(error.parameter).toBe(parameter);
        expect(error.wireCode).toBe('ERR_IDENTITY_TOKEN_INVALID');
      });

      it('refuses them before any key is looked up (an unknown kid is not even asked about)', async () => {
        const header = JSON.stringify({ alg, kid: 'not-in-the-key-set', typ: 'at+jwt', crit: ['b64'], b64: true });
        const token = await issuer.forge.rawSigned(header, payloadWith({}));
        await expectDenied(verifier.verify(token), HeaderExtensionRefusedError, EXTENSION_REFUSED, [token]);
      });
    });

    describe('refuses tokens the issuer signed for other purposes (typ)', () => {
      it.each([
        ['a refresh token', 'rt+jwt'],
        ['an invitation', 'invite+jwt'],
        ['an ID token or untyped JWT (JWT)', 'JWT'],
        ['a logout token', 'logout+jwt'],
        ['a look-alike (Cyrillic а)', '\u0430t+jwt'],
        ['a type with a parameter', 'at+jwt; charset=utf-8'],
        ['surrounding whitespace', ' at+jwt'],
        ['another top-level type', 'text/at+jwt'],
      ])('%s, signed by the same key for the same audience', async (_name, typ) => {
        const token = await issuer.forge.wrongType(CLAIMS, typ);
        const error = await expectDenied(verifier.verify(token), TokenTypeInvalidError, TYPE_INVALID, [token]);
        expect(error.issue).toBe('not_accepted');
        expect(error.wireCode).toBe('ERR_IDENTITY_TOKEN_INVALID');
        expect(error.message).not.toContain(typ);
      });

      it.each([
        ['no typ', {}],
        ['typ null', { typ: null }],
        ['typ a number', { typ: 9068 }],
        ['typ an array', { typ: ['at+jwt'] }],
      ])('a token with %s', async (_name, typ) => {
        const token = await issuer.forge.rawSigned(JSON.stringify({ alg, kid: 'k1', ...typ }), payloadWith({}));
        const error = await expectDenied(verifier.verify(token), TokenTypeInvalidError, TYPE_INVALID, [token]);
        expect(error.issue).toBe(Object.hasOwn(typ, 'typ') ? 'not_accepted' : 'missing');
      });

      it.each([['at+jwt'], ['AT+JWT'], ['application/at+jwt'], ['Application/At+JWT']])(
        'accepts an access token typed %s (RFC 7515 §4.1.9: case-insensitive, application/ optional)',
        async (typ) => {
          const token = await issuer.mint(CLAIMS, { header: { typ } });
          await expect(verifier.verify(token)).resolves.toMatchObject({ subject: SECRET_SUB });
        },
      );

      it('accepts JWT only when configured, and then still refuses the other types', async () => {
        const withJwt = make({ types: ['at+jwt', 'JWT'] });
        const jwt = await issuer.forge.wrongType(CLAIMS, 'JWT');
        await expectDenied(verifier.verify(jwt), TokenTypeInvalidError, TYPE_INVALID, [jwt]);
        await expect(withJwt.verify(jwt)).resolves.toMatchObject({ subject: SECRET_SUB });
        await expect(withJwt.verify(await issuer.forge.wrongType(CLAIMS, 'application/jwt'))).resolves.toBeDefined();
        await expect(withJwt.verify(await issuer.mint(CLAIMS))).resolves.toBeDefined();
        const refresh = await issuer.forge.wrongType(CLAIMS, 'rt+jwt');
        await expectDenied(withJwt.verify(refresh), TokenTypeInvalidError, TYPE_INVALID, [refresh]);
        const untyped = await issuer.forge.rawSigned(JSON.stringify({ alg, kid: 'k1' }), payloadWith({}));
        await expectDenied(withJwt.verify(untyped), TokenTypeInvalidError, TYPE_INVALID, [untyped]);
      });

      it('refuses the type before any key is looked up', async () => {
        const header = JSON.stringify({ alg, kid: 'not-in-the-key-set', typ: 'rt+jwt' });
        const token = await issuer.forge.rawSigned(header, payloadWith({}));
        await expectDenied(verifier.verify(token), TokenTypeInvalidError, TYPE_INVALID, [token]);
      });
    });

    describe('refuses tokens that live too long (maxLifetimeSeconds, default 24 h)', () => {
      it.each([
        ['exp 1e300', { exp: 1e300 }],
        ['exp 1e15', { exp: 1e15 }],
        ['exp now + 10 years', { exp: NOW_S + 10 * 365 * 86_400 }],
        ['exp now + 24 h + 1 s', { exp: NOW_S + 86_401 }],
        ['exp now + 24 h + 0.5 s', { exp: NOW_S + 86_400.5 }],
        ['iat at the epoch', { iat: 0 }],
        ['iat an hour ago, exp 23 h 1 s ahead', { iat: NOW_S - 3_600, exp: NOW_S + 82_801 }],
      ])('a validly signed token with %s', async (_name, times) => {
        const token = await issuer.forge.rawSigned(issuer.headerJson(), payloadWith(times));
        const error = await expectDenied(verifier.verify(token), TokenLifetimeError, LIFETIME, [token]);
        expect(error.maxSeconds).toBe(86_400);
        expect(error.wireCode).toBe('ERR_IDENTITY_TOKEN_INVALID');
      });

      it('a token that would reach beyond now + 24 h through a future iat: the iat is refused', async () => {
        const beyond = await issuer.forge.rawSigned(issuer.headerJson(), payloadWith({ iat: NOW_S + 31, exp: NOW_S + 31 + 86_400 }));
        const error = await expectDenied(verifier.verify(beyond), ClaimInvalidError, CLAIM_INVALID, [beyond]);
        expect(error.claim).toBe('iat');
        // The furthest an accepted token reaches: iat at the tolerance, a full lifetime after it.
        const furthest = await issuer.forge.rawSigned(issuer.headerJson(), payloadWith({ iat: NOW_S + 30, exp: NOW_S + 30 + 86_400 }));
        await expect(verifier.verify(furthest)).resolves.toMatchObject({ expiresAt: NOW_S + 86_430 });
      });

      it('a ten-year token from the test issuer, and accepts exactly 24 h', async () => {
        const forever = await issuer.forge.longLived(CLAIMS);
        await expectDenied(verifier.verify(forever), TokenLifetimeError, LIFETIME, [forever]);
        const day = await issuer.mint(CLAIMS, { expiresIn: 86_400 });
        await expect(verifier.verify(day)).resolves.toMatchObject({ expiresAt: NOW_S + 86_400 });
      });

      it('uses the configured lifetime', async () => {
        const short = make({ maxLifetimeSeconds: 600 });
        const token = await issuer.mint(CLAIMS, { expiresIn: 601 });
        const error = await expectDenied(short.verify(token), TokenLifetimeError, LIFETIME, [token]);
        expect(error.maxSeconds).toBe(600);
        await expect(short.verify(await issuer.mint(CLAIMS, { expiresIn: 600 }))).resolves.toBeDefined();
        await expect(verifier.verify(token)).resolves.toBeDefined();
      });

      it('requires iat', async () => {
        const token = await issuer.mint(CLAIMS, { omit: ['iat'] });
        const error = await expectDenied(verifier.verify(token), ClaimInvalidError, CLAIM_INVALID, [token]);
        expect(error.claim).toBe('iat');
        expect(error.issue).toBe('missing');
      });

      it.each([
        ['exp', '1e400'],
        ['iat', '1e400'],
        ['iat', '-1e400'],
        ['nbf', '-1e400'],
      ])('%s = %s (Infinity once parsed)', async (claim, literal) => {
        const payload = payloadWith({}, [claim]).slice(0, -1) + `,"${claim}":${literal}}`;
        const token = await issuer.forge.rawSigned(issuer.headerJson(), payload);
        const error = await expectDenied(verifier.verify(token), ClaimInvalidError, CLAIM_INVALID, [token]);
        expect(error.claim).toBe(claim);
      });
    });

    describe('refuses a token outside its validity window', () => {
      it('expired', async () => {
        const token = await issuer.forge.expired(CLAIMS);
        const error = await expectDenied(verifier.verify(token), TokenExpiredError, EXPIRED, [token]);
        expect(error.wireCode).toBe('ERR_IDENTITY_TOKEN_EXPIRED');
      });

      it('not yet valid (nbf)', async () => {
        const token = await issuer.mint(CLAIMS, { notBefore: NOW_S + 3600 });
        await expectDenied(verifier.verify(token), TokenNotYetValidError, {
          code: 'ERR_IDENTITY_TOKEN_NOT_YET_VALID',
          status: 401,
        }, [token]);
      });

      it('honours the clock tolerance for exp, and not a second more', async () => {
        const token = await issuer.mint(CLAIMS, { expiresIn: 60 });
        let now = new Date((NOW_S + 60 + 29) * 1000);
        const skewed = make({ clock: { now: () => now } });
        await expect(skewed.verify(token)).resolves.toMatchObject({ subject: SECRET_SUB });
        now = new Date((NOW_S + 60 + 30) * 1000);
        await expectDenied(skewed.verify(token), TokenExpiredError, EXPIRED, [token]);
      });

      it('honours the clock tolerance for nbf, and not a second more', async () => {
        const within = await issuer.mint(CLAIMS, { notBefore: NOW_S + 30 });
        const beyond = await issuer.mint(CLAIMS, { notBefore: NOW_S + 31 });
        await expect(verifier.verify(within)).resolves.toMatchObject({ subject: SECRET_SUB });
        await expect(verifier.verify(beyond)).rejects.toBeInstanceOf(TokenNotYetValidError);
      });

      it('uses the configured tolerance', async () => {
        const token = await issuer.mint(CLAIMS, { expiresIn: -10 });
        await expect(verifier.verify(token)).resolves.toMatchObject({ subject: SECRET_SUB });
        await expect(make({ clockToleranceSeconds: 0 }).verify(token)).rejects.toBeInstanceOf(TokenExpiredError);
      });

      it('an iat in the future, beyond the tolerance', async () => {
        const token = await issuer.mint(CLAIMS, { issuedAt: NOW_S + 120 });
        const error = await expectDenied(verifier.verify(token), ClaimInvalidError, CLAIM_INVALID, [token]);
        expect(error.claim).toBe('iat');
      });

      it('older than maxTokenAgeSeconds, and without iat when an age is set', async () => {
        const aged = make({ maxTokenAgeSeconds: 600 });
        const old = await issuer.mint(CLAIMS, { issuedAt: NOW_S - 700 });
        const error = await expectDenied(aged.verify(old), TokenExpiredError, EXPIRED, [old]);
        expect(error.claim).toBe('iat');
        const noIat = await issuer.mint(CLAIMS, { omit: ['iat'] });
        const missing = await expectDenied(aged.verify(noIat), ClaimInvalidError, CLAIM_INVALID, [noIat]);
        expect(missing.claim).toBe('iat');
        await expect(aged.verify(await issuer.mint(CLAIMS))).resolves.toMatchObject({ subject: SECRET_SUB });
      });
    });

    describe('refuses wrong or missing claims', () => {
      it.each([
        ['iss', (i: TestIssuer) => i.forge.wrongIssuer(CLAIMS)],
        ['aud', (i: TestIssuer) => i.forge.wrongAudience(CLAIMS)],
        ['exp', (i: TestIssuer) => i.mint(CLAIMS, { omit: ['exp'] })],
        ['iss', (i: TestIssuer) => i.mint(CLAIMS, { omit: ['iss'] })],
        ['aud', (i: TestIssuer) => i.mint(CLAIMS, { omit: ['aud'] })],
        ['iss', (i: TestIssuer) => i.mint({ ...CLAIMS, iss: `${i.issuer}/` })],
        ['aud', (i: TestIssuer) => i.mint({ ...CLAIMS, aud: 42 })],
        ['exp', (i: TestIssuer) => i.mint({ ...CLAIMS, exp: String(NOW_S + 60) })],
        ['sub', (i: TestIssuer) => i.mint({ ...CLAIMS, sub: '' })],
        ['sub', (i: TestIssuer) => i.mint({ ...CLAIMS, sub: 'x'.repeat(256) })],
        ['sub', (i: TestIssuer) => i.mint({ ...CLAIMS, sub: 'user\nINFO forged log line' })],
        ['sub', (i: TestIssuer) => i.mint({ ...CLAIMS, sub: 7 as unknown as string })],
        ['sid', (i: TestIssuer) => i.mint({ ...CLAIMS, sid: 12 as unknown as string })],
        ['sid', (i: TestIssuer) => i.mint({ ...CLAIMS, sid: 'session-\ud800' })],
        ['jti', (i: TestIssuer) => i.mint({ ...CLAIMS, jti: '\udc00-token' })],
        ['jti', (i: TestIssuer) => i.mint({ ...CLAIMS, jti: '' })],
        ['iat', (i: TestIssuer) => i.mint({ ...CLAIMS, iat: 'yesterday' })],
        ['nbf', (i: TestIssuer) => i.mint({ ...CLAIMS, nbf: 'soon' })],
      ])('the %s claim (case %#)', async (claim, mint) => {
        const token = await mint(issuer);
        const error = await expectDenied(verifier.verify(token), ClaimInvalidError, CLAIM_INVALID, [token]);
        expect(error.claim).toBe(claim);
        expect(error.message).toContain(`"${claim}"`);
      });

      it('a missing sub', async () => {
        const token = await issuer.forge.rawSigned(issuer.headerJson(), payloadWith({}, ['sub']));
        const error = await expectDenied(verifier.verify(token), ClaimInvalidError, CLAIM_INVALID, [token]);
        expect(error.claim).toBe('sub');
        expect(error.issue).toBe('missing');
      });

    });

    describe('refuses forged signatures and keys', () => {
      it('alg none', async () => {
        const token = await issuer.forge.algNone(CLAIMS);
        await expectDenied(verifier.verify(token), AlgorithmNotAllowedError, NOT_ALLOWED, [token]);
      });

      it('alg none with a signature attached', async () => {
        const token = `${await issuer.forge.algNone(CLAIMS)}c2lnbmF0dXJl`;
        await expectDenied(verifier.verify(token), AlgorithmNotAllowedError, NOT_ALLOWED, [token]);
      });

      it.each([['spki-pem' as const], ['jwk-json' as const]])(
        'HS256 keyed with the public key (%s)',
        async (form) => {
          const token = await issuer.forge.hs256WithPublicKey(CLAIMS, form);
          await expectDenied(verifier.verify(token), AlgorithmNotAllowedError, NOT_ALLOWED, [token]);
        },
      );

      it('a header without alg', async () => {
        const token = await issuer.forge.rawSigned(JSON.stringify({ kid: 'k1' }), payloadWith({}));
        await expectDenied(verifier.verify(token), TokenMalformedError, MALFORMED, [token]);
      });

      it('a tampered payload', async () => {
        const token = issuer.forge.tampered(await issuer.mint(CLAIMS));
        await expectDenied(verifier.verify(token), SignatureInvalidError, {
          code: 'ERR_IDENTITY_SIGNATURE_INVALID',
          status: 401,
        }, [token]);
      });

      it('a signature from another token', async () => {
        const [h, p] = (await issuer.mint(CLAIMS)).split('.');
        const other = (await issuer.mint({ ...CLAIMS, org: 'other' })).split('.')[2];
        await expect(verifier.verify(`${h}.${p}.${other}`)).rejects.toBeInstanceOf(SignatureInvalidError);
      });

      it('an unknown kid', async () => {
        const token = await issuer.forge.unknownKid(CLAIMS);
        await expectDenied(verifier.verify(token), KeyNotFoundError, {
          code: 'ERR_IDENTITY_KEY_NOT_FOUND',
          status: 401,
        }, [token]);
      });

      it('a known kid signed by another key', async () => {
        const token = await issuer.forge.wrongKey(CLAIMS);
        await expect(verifier.verify(token)).rejects.toBeInstanceOf(SignatureInvalidError);
      });

      it('no kid while several keys would match', async () => {
        const token = await issuer.forge.rawSigned(JSON.stringify({ alg, typ: 'at+jwt' }), payloadWith({}));
        await expect(verifier.verify(token)).rejects.toBeInstanceOf(KeyNotFoundError);
        const single = make({ keys: { jwks: issuer.jwks(['k1']) } });
        await expect(single.verify(token)).resolves.toMatchObject({ subject: SECRET_SUB });
      });
    });

    describe('refuses ambiguous JSON', () => {
      it.each([
        ['sub twice', '"sub":"admin"', 'sub'],
        ['sub twice, escaped', '"s\\u0075b":"admin"', 'sub'],
        ['org twice, escaped', '"o\\u0072g":"other-org"', 'org'],
        ['a nested duplicate', '"ctx":{"role":"user","role":"admin"}', 'role'],
      ])('a duplicate claim: %s', async (_name, insert, member) => {
        const token = await issuer.forge.rawSigned(issuer.headerJson(), payloadPlus(insert));
        const error = await expectDenied(verifier.verify(token), DuplicateMemberError, DUPLICATE, [token]);
        expect(error.part).toBe('payload');
        expect(error.member).toBe(member);
      });

      it('a duplicate header member', async () => {
        const header = `{"alg":"${alg}","kid":"k1","kid":"k2","typ":"JWT"}`;
        const token = await issuer.forge.rawSigned(header, payloadWith({}));
        const error = await expectDenied(verifier.verify(token), DuplicateMemberError, DUPLICATE, [token]);
        expect(error.part).toBe('header');
      });

      it('does not echo an unprintable duplicated name', async () => {
        const token = await issuer.forge.rawSigned(issuer.headerJson(), `{"${SECRET_SUB} x":1,"${SECRET_SUB} x":2}`);
        const error = await expectDenied(verifier.verify(token), DuplicateMemberError, DUPLICATE, [token]);
        expect(error.member).toBeNull();
      });

      it('nesting deeper than the limit, and exactly the limit', async () => {
        const nested = (depth: number): string => payloadPlus(`"x":${'['.repeat(depth)}${']'.repeat(depth)}`);
        const deep = await issuer.forge.rawSigned(issuer.headerJson(), nested(8));
        await expectDenied(verifier.verify(deep), PayloadTooDeepError, {
          code: 'ERR_IDENTITY_PAYLOAD_TOO_DEEP',
          status: 401,
        }, [deep]);
        const edge = await issuer.forge.rawSigned(issuer.headerJson(), nested(7));
        await expect(verifier.verify(edge)).resolves.toMatchObject({ subject: SECRET_SUB });
      });

      it('a header nested too deep', async () => {
        const header = `{"alg":"${alg}","kid":"k1","x":{"a":{"b":{"c":{}}}}}`;
        const token = await issuer.forge.rawSigned(header, payloadWith({}));
        const error = await expectDenied(verifier.verify(token), PayloadTooDeepError, {
          code: 'ERR_IDENTITY_PAYLOAD_TOO_DEEP',
          status: 401,
        });
        expect(error.part).toBe('header');
      });
    });

    describe('refuses a tenant claim that is not one identifier', () => {
      it.each([
        ['an array', ['a', 'b']],
        ['an array of one', [SECRET_ORG]],
        ['an object', { id: SECRET_ORG }],
        ['a number', 42],
        ['an empty string', ''],
        ['null', null],
        ['a boolean', true],
        ['a space', 'acme corp'],
        ['a leading separator', '-acme'],
        ['a slash', 'acme/../other'],
        ['too long', 'a'.repeat(129)],
      ])('org as %s', async (_name, org) => {
        const token = await issuer.forge.rawSigned(issuer.headerJson(), payloadWith({ org }));
        const error = await expectDenied(verifier.verify(token), TenantClaimInvalidError, TENANT_INVALID, [token]);
        expect(error.claim).toBe('org');
      });

      it('a missing org claim', async () => {
        const token = await issuer.forge.rawSigned(issuer.headerJson(), payloadWith({}, ['org']));
        const error = await expectDenied(verifier.verify(token), TenantClaimInvalidError, TENANT_INVALID, [token]);
        expect(error.claim).toBe('org');
      });

      it.each([
        ['an array', ['w1', 'w2']],
        ['an object', {}],
        ['a number', 1],
        ['an empty string', ''],
        ['null', null],
      ])(
        'workspace as %s',
        async (_name, workspace) => {
          const token = await issuer.forge.rawSigned(issuer.headerJson(), payloadWith({ workspace }));
          const error = await expectDenied(verifier.verify(token), TenantClaimInvalidError, TENANT_INVALID, [token]);
          expect(error.claim).toBe('workspace');
        },
      );

      it('accepts the whole identifier alphabet', async () => {
        const org = 'Acme_1.eu:prod-2';
        await expect(verifier.verify(await issuer.mint({ ...CLAIMS, org }))).resolves.toMatchObject({
          tenant: { org },
        });
      });
    });

    describe('revocation', () => {
      const revoked = (check: RevocationCheck): TokenVerifier => make({ revocation: check });

      it('refuses a revoked jti', async () => {
        const list = createMemoryRevocationList({ clock: fixedClock });
        const token = await issuer.mint({ ...CLAIMS, jti: 'jti-revoked' });
        const principal = await revoked(list).verify(token);
        list.revokeToken('jti-revoked', new Date(principal.expiresAt * 1000));
        const error = await expectDenied(revoked(list).verify(token), TokenRevokedError, REVOKED, [token]);
        expect(error.wireCode).toBe('ERR_IDENTITY_TOKEN_REVOKED');
        await expect(revoked(list).verify(await issuer.mint(CLAIMS))).resolves.toBeDefined();
      });

      it('refuses every token of a revoked session', async () => {
        const list = createMemoryRevocationList();
        list.revokeSession('session-revoked');
        const token = await issuer.mint({ ...CLAIMS, sid: 'session-revoked' });
        await expectDenied(revoked(list).verify(token), TokenRevokedError, REVOKED, [token]);
        await expect(revoked(list).verify(await issuer.mint({ ...CLAIMS, sid: 'other' }))).resolves.toBeDefined();
      });

      it('refuses the tokens of a subject issued before the cut-off, a fractional iat by its whole second', async () => {
        const list = createMemoryRevocationList();
        list.revokeSubject(SECRET_SUB, new Date((NOW_S - 60) * 1000 + 500));
        const before = await issuer.mint(CLAIMS, { issuedAt: NOW_S - 120 });
        // 0.2 s after the cut-off, but its whole second (rounded down) is before it: revoked.
        const fraction = await issuer.forge.rawSigned(issuer.headerJson(), payloadWith({ iat: NOW_S - 59.7 }));
        const after = await issuer.mint(CLAIMS, { issuedAt: NOW_S - 59 });
        await expectDenied(revoked(list).verify(before), TokenRevokedError, REVOKED, [before]);
        await expectDenied(revoked(list).verify(fraction), TokenRevokedError, REVOKED, [fraction]);
        await expect(revoked(list).verify(after)).resolves.toMatchObject({ subject: SECRET_SUB });
      });

      it('still refuses a revoked token re-encoded with other bytes', async () => {
        const list = createMemoryRevocationList({ clock: fixedClock });
        const claims = issuer.claims({ ...CLAIMS, jti: 'jti-reencoded', sid: 'session-x' });
        const original = await issuer.forge.rawSigned(issuer.headerJson(), JSON.stringify(claims));
        list.revokeToken('jti-reencoded', new Date((NOW_S + 300) * 1000));
        // Same claims: members reordered, whitespace added, a name escaped, a new signature.
        const reordered = Object.fromEntries(Object.entries(claims).reverse());
        const respelled = JSON.stringify(reordered, null, 2).replace('"jti"', '"j\\u0074i"');
        const reencoded = await issuer.forge.rawSigned(` ${issuer.headerJson()} `, respelled);
        expect(reencoded).not.toBe(original);
        await expectDenied(revoked(list).verify(original), TokenRevokedError, REVOKED, [original]);
        await expectDenied(revoked(list).verify(reencoded), TokenRevokedError, REVOKED, [reencoded]);
        // Another spelling of the signature bytes is no way around it either: it is not canonical.
        await expect(revoked(list).verify(nonCanonical(original))).rejects.toBeInstanceOf(TokenMalformedError);
      });

      it('asks only after the signature and claims have passed, with the verified claims', async () => {
        const seen: RevocationSubject[] = [];
        const spy = revoked({ isRevoked: (token) => (seen.push(token), false) });
        await expect(spy.verify(issuer.forge.tampered(await issuer.mint(CLAIMS)))).rejects.toBeInstanceOf(
          SignatureInvalidError,
        );
        await expect(spy.verify(await issuer.forge.expired(CLAIMS))).rejects.toBeInstanceOf(TokenExpiredError);
        expect(seen).toEqual([]);
        await spy.verify(await issuer.mint({ ...CLAIMS, sid: 's1', jti: 'j1' }));
        expect(seen).toEqual([
          {
            issuer: issuer.issuer,
            subject: SECRET_SUB,
            session: 's1',
            tokenId: 'j1',
            issuedAt: NOW_S,
            tenant: { org: SECRET_ORG, workspace: null },
          },
        ]);
      });

      it.each([
        ['throws', () => { throw new Error('store down'); }],
        ['rejects', () => Promise.reject(new Error('store down'))],
        ['answers a non-boolean', () => 'no' as unknown as boolean],
        ['answers undefined', () => undefined as unknown as boolean],
      ])('fails closed with 503 when the check %s', async (_name, isRevoked) => {
        const token = await issuer.mint(CLAIMS);
        const error = await expectDenied(revoked({ isRevoked }).verify(token), RevocationUnavailableError, {
          code: 'ERR_IDENTITY_REVOCATION_UNAVAILABLE',
          status: 503,
        }, [token]);
        expect(error.wireCode).toBe('ERR_IDENTITY_REVOCATION_UNAVAILABLE');
      });
    });
  });
}

describe('createTokenVerifier across key families', () => {
  it('refuses a token signed with an algorithm outside the allowlist (EdDSA when only ES256 is allowed)', async () => {
    const es = await createTestIssuer({ alg: 'ES256', clock: fixedClock });
    const ed = await createTestIssuer({ alg: 'EdDSA', kids: ['test-key-1'], clock: fixedClock });
    // Even with the EdDSA key in the set, the allowlist decides.
    const verifier = createTokenVerifier({
      ...es.verifierOptions(),
      keys: { jwks: { keys: [...es.jwks().keys, ...ed.jwks().keys.map((k) => ({ ...k, kid: 'ed' }))] } },
      clock: fixedClock,
    });
    const token = await ed.mint(CLAIMS, { kid: 'test-key-1', header: { kid: 'ed' } });
    await expectDenied(verifier.verify(token), AlgorithmNotAllowedError, NOT_ALLOWED, [token]);
  });

  it('refuses a key of the wrong family for the token alg', async () => {
    const es = await createTestIssuer({ alg: 'ES256', clock: fixedClock });
    const rs = await createTestIssuer({ alg: 'RS256', clock: fixedClock });
    const { alg: _alg, ...rsaKey } = rs.jwks().keys[0] as JWK;
    const verifier = createTokenVerifier({
      ...es.verifierOptions(),
      algorithms: ['ES256', 'RS256'],
      keys: { jwks: { keys: [{ ...rsaKey, kid: 'shared' }] } },
      clock: fixedClock,
    });
    const token = await es.mint(CLAIMS, { header: { kid: 'shared' } });
    await expect(verifier.verify(token)).rejects.toBeInstanceOf(KeyNotFoundError);
  });
});

describe('key rotation with a local key set', () => {
  it('verifies tokens of both kids, then refuses the retired kid with KEY_NOT_FOUND', async () => {
    const issuer = await createTestIssuer({ kids: ['old', 'new'], clock: fixedClock });
    const oldToken = await issuer.mint(CLAIMS, { kid: 'old' });
    const newToken = await issuer.mint(CLAIMS, { kid: 'new' });
    const both = createTokenVerifier({ ...issuer.verifierOptions(), clock: fixedClock });
    await expect(both.verify(oldToken)).resolves.toMatchObject({ subject: SECRET_SUB });
    await expect(both.verify(newToken)).resolves.toMatchObject({ subject: SECRET_SUB });

    const rotated = createTokenVerifier({
      ...issuer.verifierOptions(),
      keys: { jwks: issuer.jwks(['new']) },
      clock: fixedClock,
    });
    await expect(rotated.verify(newToken)).resolves.toMatchObject({ subject: SECRET_SUB });
    await expectDenied(rotated.verify(oldToken), KeyNotFoundError, {
      code: 'ERR_IDENTITY_KEY_NOT_FOUND',
      status: 401,
    }, [oldToken]);
  });

  it('is not affected by later changes to the key set object it was given', async () => {
    const issuer = await createTestIssuer({ clock: fixedClock });
    const jwks = issuer.jwks();
    const verifier = createTokenVerifier({ ...issuer.verifierOptions(), keys: { jwks }, clock: fixedClock });
    jwks.keys.length = 0;
    await expect(verifier.verify(await issuer.mint(CLAIMS))).resolves.toMatchObject({ subject: SECRET_SUB });
  });
});

/** Changes the last character of the signature so it decodes to the same bytes (stray low bits set). */
function nonCanonical(token: string): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  const last = token.at(-1) as string;
  const index = alphabet.indexOf(last);
  // Signatures here are 64, 256 or 64 bytes: 2 or 4 spare bits in the last character; flipping bit 0 is safe.
  const changed = `${token.slice(0, -1)}${alphabet[index ^ 1]}`;
  const sig = (t: string): string => Buffer.from(t.split('.')[2] as string, 'base64url').toString('hex');
  expect(sig(changed)).toBe(sig(token));
  return changed;
}
