import { Buffer } from 'node:buffer';
import { errors, jwtVerify } from 'jose';
import type { JWTPayload, JWTVerifyGetKey, JWTVerifyOptions } from 'jose';
import { parseBearer } from './bearer.ts';
import { isTenantId, isTokenId } from './identifiers.ts';
import {
  AlgorithmNotAllowedError,
  ClaimInvalidError,
  DuplicateMemberError,
  HeaderExtensionRefusedError,
  IdentityError,
  KeyNotFoundError,
  KeysUnavailableError,
  PayloadTooDeepError,
  PrincipalUnknownError,
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
import type { ClaimIssue } from './errors.ts';
import { createKeyResolver } from './key-source.ts';
import { registerVerifiedPrincipal } from './principal.ts';
import type { Principal } from './principal.ts';
import type { RevocationSubject } from './revocation.ts';
import { parseStrictJsonObject } from './strict-json.ts';
import { timeRuleBroken, wholeSeconds } from './time-rules.ts';
import type { TimeRule, TokenTimes } from './time-rules.ts';
import { createVerifiedTokenCache, passesTimeRules } from './token-cache.ts';
import type { VerifiedTokenCache, VerifiedTokenEntry } from './token-cache.ts';
import { normalizeType, resolveVerifierOptions } from './verifier-options.ts';
import type { ResolvedVerifierOptions, TokenVerifierOptions } from './verifier-options.ts';

/**
 * Turns bearer tokens into verified principals. Every failure is an `IdentityError` (401, or 503 when
 * keys or the revocation check are unavailable); nothing else escapes.
 *
 * @example
 * ```ts
 * const principal = await verifier.verifyAuthorizationHeader(req.headers.authorization);
 * ```
 */
export interface TokenVerifier {
  /** Verifies a compact JWS JWT and returns the frozen, verified principal it proves. */
  verify(token: string): Promise<Principal>;
  /** Takes the token out of an `Authorization: Bearer <token>` header value, then verifies it. */
  verifyAuthorizationHeader(header: string | undefined): Promise<Principal>;
  /**
   * Checks again, at the current clock, that a principal this verifier produced is still good: every
   * time rule of a verification (`exp`, `nbf`, `iat`, token age, with the same tolerance) and the
   * revocation check, on the claims it was verified from. Resolves, or throws the `IdentityError` a
   * verification at this instant would (a principal this verifier did not produce is
   * `PrincipalUnknownError`). The pipeline calls it at the action: a request's body may arrive long after
   * its token was verified, and the decision that lets the action run is taken then.
   */
  revalidate(principal: Principal): Promise<void>;
}

/** A JOSE header never needs more than an object inside an object (`jwk`); leave some room. */
const HEADER_MAX_DEPTH = 4;
const BASE64URL = /^[A-Za-z0-9_-]+$/;
/** A duplicated member name is reported only when it is this plain (it comes from the token). */
const REPORTABLE_NAME = /^[A-Za-z0-9_.:-]{1,64}$/;
const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Creates a token verifier. The options are validated here, once: a mistake (an HMAC algorithm, a
 * private key in the key set, plain http to a remote host …) throws a `TypeError` when the server is
 * assembled, not on the first request.
 *
 * `verify` checks, in this order, and stops at the first failure:
 * 1. size (`maxTokenBytes`), before any decoding;
 * 2. shape: three canonical base64url segments; header and payload are UTF-8 JSON objects without
 *    duplicate member names (compared after unescaping) and not nested too deep;
 * 3. the header: `alg` is in the allowlist (never `none`, never `HS*`); no `crit` and no `b64` (no JWS
 *    extension is accepted); `typ` is one of `types` (default `at+jwt`), so a refresh token or any
 *    other token the issuer signs with the same key is not taken for an access token;
 * 4. jose: key lookup by `kid` in the JWKS, signature, `iss`, `aud`, `exp`, `nbf`, `iat` age,
 *    presence of `exp`, `iat`, `sub`, `iss`, `aud` and the org claim;
 * 5. this package's claim rules: `sub`, `sid`, `jti` are short strings; the tenant claims are single
 *    identifiers; the time rules (`timeRuleBroken`): `iat` not in the future, the lifetime
 *    (`exp - iat`) within `maxLifetimeSeconds` (so `exp` is within it from now too);
 * 6. revocation, on the verified claims;
 * and returns a deeply frozen principal that {@link isVerifiedPrincipal} recognises. Its times are whole
 * seconds whatever the token said (rounded down: see `wholeSeconds`).
 *
 * A verified token is cached (option `cache`, on by default) under its exact text, which step 2 makes
 * the only spelling of its bytes. When the same text comes again, steps 1 to 5 are skipped while the
 * token still passes every time rule of step 4 and 5 at the current clock and the entry is younger than
 * `cache.maxAgeSeconds`; otherwise it is verified in full, as if it had never been seen. Step 6 runs on
 * every call, cached or not. Failures are never cached.
 *
 * @example
 * ```ts
 * const verifier = createTokenVerifier({
 *   issuer: 'https://id.example.com',
 *   audience: 'https://api.example.com',
 *   algorithms: ['ES256'],
 *   keys: { jwksUrl: 'https://id.example.com/.well-known/jwks.json' },
 * });
 * const principal = await verifier.verifyAuthorizationHeader(request.headers.authorization);
 * principal.tenant.org; // 'acme'
 * ```
 */
export function createTokenVerifier(options: TokenVerifierOptions): TokenVerifier {
  const config = resolveVerifierOptions(options);
  const getKey = createKeyResolver(config.keys, config.algorithms, config.logger);
  const cache = tokenCacheFor(config);
  // What each principal this verifier produced was verified from, for `revalidate`; weak, so a principal
  // nobody holds any more takes its entry with it.
  const verified: VerifiedPrincipals = new WeakMap();

  const verify = async (token: string): Promise<Principal> => {
    try {
      return await verifyToken(token, config, getKey, cache, verified);
    } catch (error) {
      if (error instanceof IdentityError) throw error;
      // Not a jose error either (those are all mapped): a defect. Keep it as the cause for the log.
      throw new TokenMalformedError('the token could not be processed', { cause: error });
    }
  };

  return Object.freeze({
    verify,
    async verifyAuthorizationHeader(header: string | undefined): Promise<Principal> {
      return verify(parseBearer(header));
    },
    async revalidate(principal: Principal): Promise<void> {
      const facts = typeof principal === 'object' && principal !== null ? verified.get(principal) : undefined;
      if (facts === undefined) throw new PrincipalUnknownError();
      const now = config.clock.now();
      // An invalid clock reading is no instant at which a token is valid.
      if (!Number.isFinite(now.getTime())) throw new TokenExpiredError('exp');
      const broken = timeRuleBroken(facts.times, config, now);
      if (broken !== null) throw timeRuleError(broken, config);
      await checkRevocation(facts.revocationSubject, config);
    },
  });
}

/** Per verifier: the principals it produced and what `revalidate` decides on (a cache entry's, less its age). */
type VerifiedPrincipals = WeakMap<Principal, Pick<VerifiedTokenEntry, 'revocationSubject' | 'times'>>;

/**
 * The verifier's token cache, or `null` when it is off. A cached token is never trusted longer than the
 * key set it was verified with: for a remote set the entry age is capped at `keys.cacheMaxAgeMs`, so
 * with `cacheMaxAgeMs: 0` (refetch on every verification) there is nothing left to cache.
 */
function tokenCacheFor(config: ResolvedVerifierOptions): VerifiedTokenCache | null {
  if (config.cache === null) return null;
  const ownMaxAgeMs = config.cache.maxAgeSeconds * 1000;
  const maxAgeMs = config.keys.kind === 'remote' ? Math.min(ownMaxAgeMs, config.keys.cacheMaxAgeMs) : ownMaxAgeMs;
  if (maxAgeMs <= 0) return null;
  return createVerifiedTokenCache({ maxEntries: config.cache.maxEntries, maxAgeMs });
}

async function verifyToken(
  token: unknown,
  config: ResolvedVerifierOptions,
  getKey: JWTVerifyGetKey,
  cache: VerifiedTokenCache | null,
  verified: VerifiedPrincipals,
): Promise<Principal> {
  if (token === undefined || token === null || token === '') throw new TokenMissingError();
  if (typeof token !== 'string') throw new TokenMalformedError('the token is not a string');

  const now = config.clock.now();
  const cached = cache?.get(token, now.getTime());
  if (cached !== undefined) {
    if (passesTimeRules(cached, config, now)) {
      // Revocation is never cached: a token revoked after it was cached is refused here.
      await checkRevocation(cached.revocationSubject, config);
      return cached.principal;
    }
    // Out of its time: the full path below then raises exactly what an uncached verification raises.
    cache?.delete(token);
  }

  precheck(token, config);

  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(token, getKey, joseOptions(config, now)));
  } catch (error) {
    throw joseError(error, config);
  }

  const fields = principalFields(payload, config);
  const broken = timeRuleBroken(fields.times, config, now);
  if (broken !== null) throw timeRuleError(broken, config);
  const revocationSubject = revocationSubjectOf(fields.principal);
  await checkRevocation(revocationSubject, config);
  const principal = registerVerifiedPrincipal(fields.principal);
  verified.set(principal, { revocationSubject, times: fields.times });
  // Only now, with every check passed: a failure never reaches the cache.
  cache?.set(token, {
    principal,
    revocationSubject,
    times: fields.times,
    verifiedAtMs: now.getTime(),
  });
  return principal;
}

/**
 * What jose does not check, or checks only after it has parsed leniently: size, canonical encoding,
 * duplicate members, nesting and the algorithm allowlist, all before any key is looked up.
 */
function precheck(token: string, config: ResolvedVerifierOptions): void {
  // `length` first so a huge string is refused without being measured.
  if (token.length > config.maxTokenBytes || Buffer.byteLength(token, 'utf8') > config.maxTokenBytes) {
    throw new TokenTooLargeError(config.maxTokenBytes);
  }
  const segments = token.split('.');
  if (segments.length !== 3) throw new TokenMalformedError('the token is not three dot-separated segments');
  const [headerSegment, payloadSegment, signatureSegment] = segments as [string, string, string];

  const header = decodeJsonSegment(headerSegment, 'header', HEADER_MAX_DEPTH);
  const alg = header['alg'];
  if (typeof alg !== 'string') throw new TokenMalformedError('the header has no "alg"');
  if (!(config.algorithms as ReadonlyArray<string>).includes(alg)) throw new AlgorithmNotAllowedError();
  // Covenant defines no JWS extension: whatever `crit` names (and `b64`, which changes what is signed) is
  // refused, rather than left to what jose happens to understand.
  if (Object.hasOwn(header, 'crit')) throw new HeaderExtensionRefusedError('crit');
  if (Object.hasOwn(header, 'b64')) throw new HeaderExtensionRefusedError('b64');
  if (!Object.hasOwn(header, 'typ')) throw new TokenTypeInvalidError('missing');
  const type = normalizeType(header['typ']);
  if (type === null || !config.types.includes(type)) throw new TokenTypeInvalidError('not_accepted');

  decodeJsonSegment(payloadSegment, 'payload', config.maxPayloadDepth);
  decodeSegment(signatureSegment, 'signature');
}

function decodeSegment(segment: string, part: 'header' | 'payload' | 'signature'): Buffer {
  if (!BASE64URL.test(segment)) throw new TokenMalformedError(`the ${part} is not base64url`);
  const bytes = Buffer.from(segment, 'base64url');
  // Only one spelling per byte string: no padding, no stray low bits in the last character.
  if (bytes.toString('base64url') !== segment) throw new TokenMalformedError(`the ${part} is not canonical base64url`);
  return bytes;
}

function decodeJsonSegment(segment: string, part: 'header' | 'payload', maxDepth: number): Record<string, unknown> {
  const bytes = decodeSegment(segment, part);
  let text: string;
  try {
    text = UTF8.decode(bytes);
  } catch {
    throw new TokenMalformedError(`the ${part} is not UTF-8`);
  }
  const result = parseStrictJsonObject(text, { maxDepth });
  if (result.ok) return result.value;
  const { issue } = result;
  switch (issue.code) {
    case 'invalid_json':
      throw new TokenMalformedError(`the ${part} is not JSON`);
    case 'not_an_object':
      throw new TokenMalformedError(`the ${part} is not a JSON object`);
    case 'duplicate_member':
      throw new DuplicateMemberError(part, REPORTABLE_NAME.test(issue.member) ? issue.member : null);
    case 'too_deep':
      throw new PayloadTooDeepError(part, issue.maxDepth);
  }
}

function joseOptions(config: ResolvedVerifierOptions, now: Date): JWTVerifyOptions {
  // `typ` is checked before jose (precheck), against the list of accepted types.
  const options: JWTVerifyOptions = {
    algorithms: [...config.algorithms],
    issuer: config.issuer,
    audience: [...config.audience],
    clockTolerance: config.clockToleranceSeconds,
    requiredClaims: ['exp', 'iat', 'sub', 'iss', 'aud', config.orgClaim],
    currentDate: now,
  };
  if (config.maxTokenAgeSeconds !== null) options.maxTokenAge = config.maxTokenAgeSeconds;
  return options;
}

/** Maps what jose throws to this package's errors. Nothing of the jose error (it holds the payload) is kept. */
function joseError(error: unknown, config: ResolvedVerifierOptions): IdentityError {
  if (error instanceof IdentityError) return error; // from the key resolver
  if (error instanceof errors.JWTExpired) return new TokenExpiredError(error.claim === 'iat' ? 'iat' : 'exp');
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.claim === 'nbf' && error.reason === 'check_failed') return new TokenNotYetValidError();
    if (error.claim === config.orgClaim) return new TenantClaimInvalidError(config.orgClaim, 'missing');
    return new ClaimInvalidError(knownClaim(error.claim, config), claimIssue(error.reason));
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) return new SignatureInvalidError();
  if (error instanceof errors.JOSEAlgNotAllowed) return new AlgorithmNotAllowedError();
  if (error instanceof errors.JWKSNoMatchingKey) return new KeyNotFoundError('no_matching_key');
  if (error instanceof errors.JWKSMultipleMatchingKeys) return new KeyNotFoundError('several_matching_keys');
  if (error instanceof errors.JWKSTimeout) return new KeysUnavailableError('timeout', { cause: error });
  if (error instanceof errors.JWKSInvalid) return new KeysUnavailableError('invalid_key_set', { cause: error });
  if (error instanceof errors.JOSENotSupported) return new TokenMalformedError('the token uses an unsupported feature');
  if (error instanceof errors.JWSInvalid) return new TokenMalformedError('the token is not a valid JWS');
  if (error instanceof errors.JWTInvalid) return new TokenMalformedError('the token is not a valid JWT');
  if (error instanceof errors.JOSEError) return new TokenMalformedError('the token was refused by the JOSE layer');
  return new TokenMalformedError('the token could not be processed', { cause: error });
}

/** jose names the claim it refused; keep the name only when it is one this verifier asked about. */
function knownClaim(claim: string, config: ResolvedVerifierOptions): string {
  const known = ['iss', 'aud', 'sub', 'exp', 'nbf', 'iat', config.orgClaim, config.workspaceClaim];
  return known.includes(claim) ? claim : 'unknown';
}

function claimIssue(reason: string): ClaimIssue {
  return reason === 'missing' ? 'missing' : reason === 'check_failed' ? 'mismatch' : 'invalid';
}

/** The error a broken time rule raises: the same whether the token came fresh or from the cache. */
function timeRuleError(rule: TimeRule, config: ResolvedVerifierOptions): IdentityError {
  switch (rule) {
    case 'nbf':
      return new TokenNotYetValidError();
    case 'exp':
      return new TokenExpiredError('exp');
    case 'iat_age':
      return new TokenExpiredError('iat');
    case 'iat_future':
      // A token issued in the future is either forged with a skewed clock or meant to outlive its policy.
      return new ClaimInvalidError('iat', 'invalid');
    case 'lifetime':
      return new TokenLifetimeError(config.maxLifetimeSeconds);
  }
}

/**
 * The claim rules jose does not know: types and shapes of `sub`, `sid`, `jti`, `exp`, `iat` and the
 * tenant. Returns the principal's fields (times in whole seconds) and the times as the token carried them.
 */
function principalFields(
  payload: JWTPayload,
  config: ResolvedVerifierOptions,
): { readonly principal: Principal; readonly times: TokenTimes } {
  const claim = (name: string): unknown => (Object.hasOwn(payload, name) ? payload[name] : undefined);

  const subject = claim('sub');
  if (!isTokenId(subject)) throw new ClaimInvalidError('sub', 'invalid');
  const session = optionalId(claim('sid'), 'sid');
  const tokenId = optionalId(claim('jti'), 'jti');

  // jose has checked that they are present and numbers; JSON's 1e400 is a number too (Infinity).
  const exp = claim('exp');
  if (typeof exp !== 'number' || !Number.isFinite(exp)) throw new ClaimInvalidError('exp', 'invalid');
  const iat = claim('iat');
  if (typeof iat !== 'number' || !Number.isFinite(iat)) throw new ClaimInvalidError('iat', 'invalid');
  const nbf = claim('nbf');
  if (nbf !== undefined && (typeof nbf !== 'number' || !Number.isFinite(nbf))) throw new ClaimInvalidError('nbf', 'invalid');

  const org = claim(config.orgClaim);
  if (!isTenantId(org)) {
    throw new TenantClaimInvalidError(config.orgClaim, org === undefined ? 'missing' : 'invalid');
  }
  const workspace = claim(config.workspaceClaim);
  if (workspace !== undefined && !isTenantId(workspace)) {
    throw new TenantClaimInvalidError(config.workspaceClaim, 'invalid');
  }

  const times: TokenTimes = Object.freeze({ exp, iat, nbf: nbf ?? null });
  const { expiresAt, issuedAt } = wholeSeconds(times);
  return {
    principal: {
      subject,
      tenant: { org, workspace: workspace ?? null },
      session,
      tokenId,
      issuer: config.issuer,
      issuedAt,
      expiresAt,
    },
    times,
  };
}

function optionalId(value: unknown, name: 'sid' | 'jti'): string | null {
  if (value === undefined) return null;
  if (!isTokenId(value)) throw new ClaimInvalidError(name, 'invalid');
  return value;
}

/** The claims the revocation port decides on, frozen: the port may keep it, and a cache hit reuses it. */
function revocationSubjectOf(principal: Principal): RevocationSubject {
  return Object.freeze({
    issuer: principal.issuer,
    subject: principal.subject,
    session: principal.session,
    tokenId: principal.tokenId,
    issuedAt: principal.issuedAt,
    tenant: Object.freeze({ org: principal.tenant.org, workspace: principal.tenant.workspace }),
  });
}

/** Asks the revocation port on claims. Anything but a clean `false` from it refuses the token. */
async function checkRevocation(subject: RevocationSubject, config: ResolvedVerifierOptions): Promise<void> {
  if (config.revocation === null) return;
  let revoked: unknown;
  try {
    revoked = await config.revocation.isRevoked(subject);
  } catch (error) {
    throw new RevocationUnavailableError({ cause: error });
  }
  if (typeof revoked !== 'boolean') throw new RevocationUnavailableError();
  if (revoked) throw new TokenRevokedError();
}
