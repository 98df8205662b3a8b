import { SecurityError } from '@covenant/core';

/**
 * Every precise identity failure. Logs, metrics and tests use these; the client sees only the
 * coarser {@link IdentityWireCode}.
 */
export type IdentityErrorCode =
  | 'ERR_IDENTITY_TOKEN_MISSING'
  | 'ERR_IDENTITY_TOKEN_MALFORMED'
  | 'ERR_IDENTITY_TOKEN_TOO_LARGE'
  | 'ERR_IDENTITY_TOKEN_EXPIRED'
  | 'ERR_IDENTITY_TOKEN_NOT_YET_VALID'
  | 'ERR_IDENTITY_SIGNATURE_INVALID'
  | 'ERR_IDENTITY_ALGORITHM_NOT_ALLOWED'
  | 'ERR_IDENTITY_KEY_NOT_FOUND'
  | 'ERR_IDENTITY_CLAIM_INVALID'
  | 'ERR_IDENTITY_DUPLICATE_MEMBER'
  | 'ERR_IDENTITY_PAYLOAD_TOO_DEEP'
  | 'ERR_IDENTITY_TENANT_CLAIM_INVALID'
  | 'ERR_IDENTITY_TOKEN_TYPE_INVALID'
  | 'ERR_IDENTITY_HEADER_EXTENSION_REFUSED'
  | 'ERR_IDENTITY_TOKEN_LIFETIME_EXCEEDED'
  | 'ERR_IDENTITY_TOKEN_REVOKED'
  | 'ERR_IDENTITY_PRINCIPAL_UNKNOWN'
  | 'ERR_IDENTITY_KEYS_UNAVAILABLE'
  | 'ERR_IDENTITY_REVOCATION_UNAVAILABLE';

/**
 * What a client may see. A bad signature, an unknown key and a wrong audience all read
 * `ERR_IDENTITY_TOKEN_INVALID`: telling them apart would help an attacker probe the verifier, and no
 * honest client acts differently on them. Expired and revoked stay apart so a client knows to refresh
 * or to sign in again; the two 503s tell it to retry later.
 */
export type IdentityWireCode =
  | 'ERR_IDENTITY_TOKEN_MISSING'
  | 'ERR_IDENTITY_TOKEN_INVALID'
  | 'ERR_IDENTITY_TOKEN_EXPIRED'
  | 'ERR_IDENTITY_TOKEN_REVOKED'
  | 'ERR_IDENTITY_KEYS_UNAVAILABLE'
  | 'ERR_IDENTITY_REVOCATION_UNAVAILABLE';

const INVALID_WIRE_MESSAGE = 'The access token is invalid.';

/**
 * The base of every identity failure. `message` is for the server log and names parts and claims, never
 * the token or a claim value; `wireMessage` is fixed text.
 *
 * @example
 * ```ts
 * try {
 *   await verifier.verify(token);
 * } catch (error) {
 *   if (error instanceof IdentityError) reply(error.status, { code: error.wireCode, message: error.wireMessage });
 *   else throw error;
 * }
 * ```
 */
export abstract class IdentityError extends SecurityError {
  abstract override readonly code: IdentityErrorCode;
  abstract override readonly status: 401 | 503;

  override get wireCode(): IdentityWireCode {
    return 'ERR_IDENTITY_TOKEN_INVALID';
  }

  override get wireMessage(): string {
    return INVALID_WIRE_MESSAGE;
  }
}

/**
 * No token: no Authorization header, or an empty one.
 *
 * @example
 * ```ts
 * await verifier.verifyAuthorizationHeader(undefined); // throws TokenMissingError
 * ```
 */
export class TokenMissingError extends IdentityError {
  override readonly name = 'TokenMissingError';
  readonly code = 'ERR_IDENTITY_TOKEN_MISSING' as const;
  readonly status = 401 as const;

  constructor() {
    super('no bearer token was presented');
  }

  override get wireCode(): 'ERR_IDENTITY_TOKEN_MISSING' {
    return 'ERR_IDENTITY_TOKEN_MISSING';
  }

  override get wireMessage(): string {
    return 'An access token is required.';
  }
}

/**
 * The token or the Authorization header is not well formed: not exactly `Bearer <token>`, not three
 * canonical base64url segments, a header or payload that is not a JSON object …
 *
 * @example
 * ```ts
 * await verifier.verifyAuthorizationHeader('Bearer a b'); // throws TokenMalformedError
 * ```
 */
export class TokenMalformedError extends IdentityError {
  override readonly name = 'TokenMalformedError';
  readonly code = 'ERR_IDENTITY_TOKEN_MALFORMED' as const;
  readonly status = 401 as const;

  /** @param reason fixed text naming what is wrong; never the token. */
  constructor(reason: string, options?: { cause?: unknown }) {
    super(`the token is malformed: ${reason}`, options);
  }
}

/**
 * The token is longer than `maxTokenBytes`; it was refused before any decoding.
 *
 * @example
 * ```ts
 * await verifier.verify('x'.repeat(100_000)); // throws TokenTooLargeError
 * ```
 */
export class TokenTooLargeError extends IdentityError {
  override readonly name = 'TokenTooLargeError';
  readonly code = 'ERR_IDENTITY_TOKEN_TOO_LARGE' as const;
  readonly status = 401 as const;
  readonly maxBytes: number;

  constructor(maxBytes: number) {
    super(`the token is larger than the limit of ${maxBytes} bytes`);
    this.maxBytes = maxBytes;
  }
}

/**
 * `exp` has passed (beyond the clock tolerance), or `iat` is older than `maxTokenAgeSeconds`.
 * The client should refresh its token.
 *
 * @example
 * ```ts
 * await verifier.verify(await issuer.forge.expired({ sub: 'u1', org: 'acme' })); // throws TokenExpiredError
 * ```
 */
export class TokenExpiredError extends IdentityError {
  override readonly name = 'TokenExpiredError';
  readonly code = 'ERR_IDENTITY_TOKEN_EXPIRED' as const;
  readonly status = 401 as const;
  /** `exp`, or `iat` when the token is older than the maximum token age. */
  readonly claim: 'exp' | 'iat';

  constructor(claim: 'exp' | 'iat') {
    super(claim === 'exp' ? 'the token has expired ("exp")' : 'the token is older than the maximum token age ("iat")');
    this.claim = claim;
  }

  override get wireCode(): 'ERR_IDENTITY_TOKEN_EXPIRED' {
    return 'ERR_IDENTITY_TOKEN_EXPIRED';
  }

  override get wireMessage(): string {
    return 'The access token has expired.';
  }
}

/**
 * `nbf` is in the future (beyond the clock tolerance).
 *
 * @example
 * ```ts
 * const token = await issuer.mint({ sub: 'u1', org: 'acme' }, { notBefore: now + 3600 });
 * await verifier.verify(token); // throws TokenNotYetValidError
 * ```
 */
export class TokenNotYetValidError extends IdentityError {
  override readonly name = 'TokenNotYetValidError';
  readonly code = 'ERR_IDENTITY_TOKEN_NOT_YET_VALID' as const;
  readonly status = 401 as const;

  constructor() {
    super('the token is not valid yet ("nbf")');
  }
}

/**
 * The signature does not verify with the key the token names (tampered header or payload, or signed
 * by another key under a known `kid`).
 *
 * @example
 * ```ts
 * await verifier.verify(issuer.forge.tampered(token)); // throws SignatureInvalidError
 * ```
 */
export class SignatureInvalidError extends IdentityError {
  override readonly name = 'SignatureInvalidError';
  readonly code = 'ERR_IDENTITY_SIGNATURE_INVALID' as const;
  readonly status = 401 as const;

  constructor() {
    super('the token signature does not verify');
  }
}

/**
 * The header `alg` is not in the verifier's allowlist: `none`, any `HS*` (key confusion), or an
 * asymmetric algorithm this verifier was not configured for.
 *
 * @example
 * ```ts
 * await verifier.verify(await issuer.forge.algNone({ sub: 'u1', org: 'acme' })); // throws AlgorithmNotAllowedError
 * ```
 */
export class AlgorithmNotAllowedError extends IdentityError {
  override readonly name = 'AlgorithmNotAllowedError';
  readonly code = 'ERR_IDENTITY_ALGORITHM_NOT_ALLOWED' as const;
  readonly status = 401 as const;

  constructor() {
    super('the token "alg" header is not an allowed algorithm');
  }
}

/**
 * No single key in the key set matches the token's `kid` and `alg` (unknown or retired `kid`, or no
 * `kid` while several keys would match).
 *
 * @example
 * ```ts
 * await verifier.verify(await issuer.forge.unknownKid({ sub: 'u1', org: 'acme' })); // throws KeyNotFoundError
 * ```
 */
export class KeyNotFoundError extends IdentityError {
  override readonly name = 'KeyNotFoundError';
  readonly code = 'ERR_IDENTITY_KEY_NOT_FOUND' as const;
  readonly status = 401 as const;

  constructor(reason: 'no_matching_key' | 'several_matching_keys') {
    super(
      reason === 'no_matching_key'
        ? 'no key in the key set matches the token "kid" and "alg"'
        : 'several keys match a token without a "kid"; the token must name its key',
    );
  }
}

/** Why a registered claim or header parameter was refused. */
export type ClaimIssue = 'missing' | 'mismatch' | 'invalid';

/**
 * A registered claim or the `typ` header is missing, has the wrong type, or does not match what the
 * verifier expects (`iss`, `aud`, `sub`, `exp`, `typ`, …). The message names the claim, never its value.
 *
 * @example
 * ```ts
 * await verifier.verify(await issuer.forge.wrongAudience({ sub: 'u1', org: 'acme' }));
 * // throws ClaimInvalidError with claim === 'aud'
 * ```
 */
export class ClaimInvalidError extends IdentityError {
  override readonly name = 'ClaimInvalidError';
  readonly code = 'ERR_IDENTITY_CLAIM_INVALID' as const;
  readonly status = 401 as const;
  readonly claim: string;
  readonly issue: ClaimIssue;

  /** @param claim a claim name chosen by the verifier (never taken from the token). */
  constructor(claim: string, issue: ClaimIssue) {
    const what = issue === 'missing' ? 'is missing' : issue === 'mismatch' ? 'does not match' : 'is not valid';
    super(`the "${claim}" claim ${what}`);
    this.claim = claim;
    this.issue = issue;
  }
}

/**
 * An object in the header or payload has the same member name twice, compared after unescaping
 * (`{"sub":"a","s\u0075b":"b"}`). Parsers disagree on which one wins, so such a token means different
 * things to different readers (RFC 7519 §4, RFC 8725 §2.8).
 *
 * @example
 * ```ts
 * await verifier.verify(await issuer.forge.rawSigned(header, '{"sub":"a","sub":"b","org":"acme"}'));
 * // throws DuplicateMemberError
 * ```
 */
export class DuplicateMemberError extends IdentityError {
  override readonly name = 'DuplicateMemberError';
  readonly code = 'ERR_IDENTITY_DUPLICATE_MEMBER' as const;
  readonly status = 401 as const;
  readonly part: 'header' | 'payload';
  /** The duplicated name when it is a short plain identifier, else `null` (it comes from the token). */
  readonly member: string | null;

  constructor(part: 'header' | 'payload', member: string | null) {
    super(`the token ${part} has a duplicate member${member === null ? '' : ` "${member}"`}`);
    this.part = part;
    this.member = member;
  }
}

/**
 * The header or payload nests objects and arrays deeper than the verifier's limit.
 *
 * @example
 * ```ts
 * await verifier.verify(await issuer.forge.rawSigned(header, deeplyNestedPayload)); // throws PayloadTooDeepError
 * ```
 */
export class PayloadTooDeepError extends IdentityError {
  override readonly name = 'PayloadTooDeepError';
  readonly code = 'ERR_IDENTITY_PAYLOAD_TOO_DEEP' as const;
  readonly status = 401 as const;
  readonly part: 'header' | 'payload';
  readonly maxDepth: number;

  constructor(part: 'header' | 'payload', maxDepth: number) {
    super(`the token ${part} nests deeper than ${maxDepth} levels`);
    this.part = part;
    this.maxDepth = maxDepth;
  }
}

/**
 * The org claim is missing or not a tenant identifier, or the workspace claim is present and not one.
 * An array, an object, a number or an empty string is refused: a tenant is exactly one identifier.
 *
 * @example
 * ```ts
 * await verifier.verify(await issuer.forge.rawSigned(header, '{"sub":"u1","org":["a","b"], …}'));
 * // throws TenantClaimInvalidError with claim === 'org'
 * ```
 */
export class TenantClaimInvalidError extends IdentityError {
  override readonly name = 'TenantClaimInvalidError';
  readonly code = 'ERR_IDENTITY_TENANT_CLAIM_INVALID' as const;
  readonly status = 401 as const;
  readonly claim: string;

  /** @param claim the configured claim name (never taken from the token). */
  constructor(claim: string, issue: 'missing' | 'invalid') {
    super(`the tenant claim "${claim}" ${issue === 'missing' ? 'is missing' : 'is not a valid tenant identifier'}`);
    this.claim = claim;
  }
}

/**
 * The `typ` header is missing or is not one of the verifier's accepted types (`at+jwt` by default,
 * RFC 9068). This is what keeps a token the issuer signed for another purpose — a refresh token
 * (`rt+jwt`), an invitation, an ID token (`JWT`) — with the same key and for the same audience from
 * being served as an access token. The message never repeats the token's `typ`.
 *
 * @example
 * ```ts
 * await verifier.verify(await issuer.forge.wrongType({ sub: 'u1', org: 'acme' }, 'rt+jwt'));
 * // throws TokenTypeInvalidError with issue === 'not_accepted'
 * ```
 */
export class TokenTypeInvalidError extends IdentityError {
  override readonly name = 'TokenTypeInvalidError';
  readonly code = 'ERR_IDENTITY_TOKEN_TYPE_INVALID' as const;
  readonly status = 401 as const;
  readonly issue: 'missing' | 'not_accepted';

  constructor(issue: 'missing' | 'not_accepted') {
    super(issue === 'missing' ? 'the token has no "typ" header' : 'the token "typ" header is not an accepted type');
    this.issue = issue;
  }
}

/**
 * The header carries `crit` or `b64`. Covenant defines no JWS extensions, so a token that asks for one
 * (RFC 7515 §4.1.11), or changes how the payload is encoded (RFC 7797), is refused before any key is
 * looked up, whatever the extension says.
 *
 * @example
 * ```ts
 * await verifier.verify(await issuer.forge.rawSigned('{"alg":"ES256","crit":["b64"],"b64":true}', payload));
 * // throws HeaderExtensionRefusedError with parameter === 'crit'
 * ```
 */
export class HeaderExtensionRefusedError extends IdentityError {
  override readonly name = 'HeaderExtensionRefusedError';
  readonly code = 'ERR_IDENTITY_HEADER_EXTENSION_REFUSED' as const;
  readonly status = 401 as const;
  readonly parameter: 'crit' | 'b64';

  constructor(parameter: 'crit' | 'b64') {
    super(`the token header carries "${parameter}"; no JWS extension is accepted`);
    this.parameter = parameter;
  }
}

/**
 * The token lives longer than the verifier allows (`maxLifetimeSeconds`, default 24 h): `exp` is more than
 * that after `iat`. With `iat` never in the future (beyond the clock tolerance), no accepted token expires
 * further than that from now: a token that could never be withdrawn in time is refused however well it is
 * signed.
 *
 * @example
 * ```ts
 * await verifier.verify(await issuer.forge.longLived({ sub: 'u1', org: 'acme' })); // throws TokenLifetimeError
 * ```
 */
export class TokenLifetimeError extends IdentityError {
  override readonly name = 'TokenLifetimeError';
  readonly code = 'ERR_IDENTITY_TOKEN_LIFETIME_EXCEEDED' as const;
  readonly status = 401 as const;
  readonly maxSeconds: number;

  constructor(maxSeconds: number) {
    super(`the token lives longer than the limit of ${maxSeconds} s ("exp" - "iat")`);
    this.maxSeconds = maxSeconds;
  }
}

/**
 * The revocation check reports the token revoked (by `jti`, by session, or every token of the subject
 * issued before a time). The client must sign in again.
 *
 * @example
 * ```ts
 * revocations.revokeSession(principal.session!);
 * await verifier.verify(token); // throws TokenRevokedError
 * ```
 */
export class TokenRevokedError extends IdentityError {
  override readonly name = 'TokenRevokedError';
  readonly code = 'ERR_IDENTITY_TOKEN_REVOKED' as const;
  readonly status = 401 as const;

  constructor() {
    super('the token has been revoked');
  }

  override get wireCode(): 'ERR_IDENTITY_TOKEN_REVOKED' {
    return 'ERR_IDENTITY_TOKEN_REVOKED';
  }

  override get wireMessage(): string {
    return 'The access token has been revoked.';
  }
}

/** Why a key set is unavailable. */
export type KeysUnavailableReason = 'timeout' | 'fetch_failed' | 'invalid_key_set' | 'no_usable_key';

/**
 * `revalidate` was handed a principal this verifier did not produce: a copy, one made by hand, or one
 * another verifier instance verified. Only the verifier that checked a token knows the claims its
 * principal was verified from, so only it can check that principal again.
 *
 * @example
 * ```ts
 * await verifier.revalidate({ ...principal }); // throws PrincipalUnknownError
 * ```
 */
export class PrincipalUnknownError extends IdentityError {
  override readonly name = 'PrincipalUnknownError';
  readonly code = 'ERR_IDENTITY_PRINCIPAL_UNKNOWN' as const;
  readonly status = 401 as const;

  constructor() {
    super('the principal was not produced by this verifier');
  }
}

/**
 * The key set could not be obtained: the JWKS endpoint is unreachable, slow, answers other than 200,
 * or serves something that is not a public key set or has no key usable with the allowed algorithms
 * (while no working key set is held, or the one held is older than `keys.cacheMaxAgeMs`). Not the
 * caller's fault, hence 503. `cause` holds the underlying failure for the server log.
 *
 * @example
 * ```ts
 * const verifier = createTokenVerifier({ …, keys: { jwksUrl: 'https://idp.example/jwks', timeoutMs: 2000 } });
 * await verifier.verify(token); // throws KeysUnavailableError when the IdP is down
 * ```
 */
export class KeysUnavailableError extends IdentityError {
  override readonly name = 'KeysUnavailableError';
  readonly code = 'ERR_IDENTITY_KEYS_UNAVAILABLE' as const;
  readonly status = 503 as const;

  readonly reason: KeysUnavailableReason;

  constructor(reason: KeysUnavailableReason, options?: { cause?: unknown }) {
    super(`the verification key set is unavailable (${reason})`, options);
    this.reason = reason;
  }

  override get wireCode(): 'ERR_IDENTITY_KEYS_UNAVAILABLE' {
    return 'ERR_IDENTITY_KEYS_UNAVAILABLE';
  }

  override get wireMessage(): string {
    return 'Authentication is temporarily unavailable.';
  }
}

/**
 * The revocation check threw, rejected or answered something other than a boolean. Verification fails
 * closed: the token is refused, with 503 because the caller did nothing wrong.
 *
 * @example
 * ```ts
 * createTokenVerifier({ …, revocation: { isRevoked: () => { throw new Error('redis down'); } } });
 * // every verify() throws RevocationUnavailableError
 * ```
 */
export class RevocationUnavailableError extends IdentityError {
  override readonly name = 'RevocationUnavailableError';
  readonly code = 'ERR_IDENTITY_REVOCATION_UNAVAILABLE' as const;
  readonly status = 503 as const;

  constructor(options?: { cause?: unknown }) {
    super('the revocation check failed; the token is refused', options);
  }

  override get wireCode(): 'ERR_IDENTITY_REVOCATION_UNAVAILABLE' {
    return 'ERR_IDENTITY_REVOCATION_UNAVAILABLE';
  }

  override get wireMessage(): string {
    return 'Authentication is temporarily unavailable.';
  }
}

/**
 * Whether a value is one of this package's errors.
 *
 * @example
 * ```ts
 * if (isIdentityError(error)) log.warn({ code: error.code }, error.message);
 * ```
 */
export function isIdentityError(value: unknown): value is IdentityError {
  return value instanceof IdentityError;
}
