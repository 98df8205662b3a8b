import { isClock, systemClock, type Clock } from '@covenant/core';
import { createLocalJWKSet } from 'jose';
import type { JSONWebKeySet } from 'jose';
import { algorithmsOf, secretMaterial } from './key-set-rules.ts';
import type { RevocationCheck } from './revocation.ts';

/**
 * The JWS algorithms a verifier may accept: asymmetric only. `none` is no signature at all, and `HS*`
 * would make the verification key a shared secret that every verifier can sign with (and that a
 * confused verifier might take from a public key). ML-DSA is left out until the runtime ships it.
 *
 * @example
 * ```ts
 * ASYMMETRIC_ALGORITHMS.includes('ES256'); // true
 * ASYMMETRIC_ALGORITHMS.includes('HS256' as AsymmetricAlgorithm); // false
 * ```
 */
export const ASYMMETRIC_ALGORITHMS = Object.freeze([
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
] as const);

export type AsymmetricAlgorithm = (typeof ASYMMETRIC_ALGORITHMS)[number];

/** A key set held in memory. Public keys only; several `kid`s allow rotation. */
export interface LocalKeySetOptions {
  readonly jwks: JSONWebKeySet;
}

/** A key set fetched (and refetched on an unknown `kid`) from the issuer's JWKS endpoint. */
export interface RemoteKeySetOptions {
  /** `https:`; plain `http:` only for loopback hosts (127.0.0.1, ::1, localhost). */
  readonly jwksUrl: string | URL;
  /** Abort a fetch after this long. Default 5000. */
  readonly timeoutMs?: number;
  /** After a fetch, an unknown `kid` does not trigger another one for this long. Default 30000. */
  readonly cooldownMs?: number;
  /** Refetch the key set when it is older than this. Default 600000. */
  readonly cacheMaxAgeMs?: number;
}

/**
 * The verified-token cache: a token seen again skips the signature check (the expensive part) but
 * never the time rules or the revocation check. Entries are keyed on the exact token text.
 */
export interface VerifiedTokenCacheOptions {
  /** Most tokens kept; the least recently used goes first. Default 10000, at most 1000000. */
  readonly maxEntries?: number;
  /**
   * Re-verify a cached token after this long even when it is still valid, so a key withdrawn from a
   * remote JWKS stops being honoured within this time. Default 60, at most 86400. With a remote key
   * set, never longer than `keys.cacheMaxAgeMs` (`0` there leaves nothing to cache).
   */
  readonly maxAgeSeconds?: number;
}

/** Names of the claims that carry the tenant. */
export interface TenantClaimNames {
  /** Default `org`. Required in every token. */
  readonly org?: string;
  /** Default `workspace`. Optional in a token. */
  readonly workspace?: string;
}

/**
 * Options of {@link createTokenVerifier}. Every one is validated when the verifier is created; unknown
 * keys are refused too, so a misspelt security setting cannot be silently ignored.
 *
 * @example
 * ```ts
 * const options: TokenVerifierOptions = {
 *   issuer: 'https://id.example.com',
 *   audience: 'https://api.example.com',
 *   algorithms: ['ES256', 'EdDSA'],
 *   keys: { jwksUrl: 'https://id.example.com/.well-known/jwks.json', timeoutMs: 2000 },
 *   types: ['at+jwt'], // the default: RFC 9068 access tokens only
 *   maxLifetimeSeconds: 3_600,
 *   revocation: createMemoryRevocationList(),
 *   logger, // pino: a refused key set is reported here
 * };
 * ```
 */
export interface TokenVerifierOptions {
  /** The exact `iss` every token must carry. */
  readonly issuer: string;
  /** This service's audience; a token's `aud` must contain one of them. */
  readonly audience: string | ReadonlyArray<string>;
  /** The algorithm allowlist; non-empty, asymmetric only. */
  readonly algorithms: ReadonlyArray<AsymmetricAlgorithm>;
  readonly keys: LocalKeySetOptions | RemoteKeySetOptions;
  /** Leeway for `exp`, `nbf` and `iat`, in seconds. Default 30, at most 300. */
  readonly clockToleranceSeconds?: number;
  /** Tokens longer than this are refused before decoding. Default 8192. */
  readonly maxTokenBytes?: number;
  /** Refuse tokens whose `iat` is older than this. */
  readonly maxTokenAgeSeconds?: number;
  /**
   * The longest a token may live, in seconds: `exp - iat` at most this, and `exp` no further than this
   * (plus the clock tolerance) from now. Default 86400 (24 h), at most 31536000. `iat` is always required.
   */
  readonly maxLifetimeSeconds?: number;
  /**
   * The `typ` header values accepted, compared as RFC 7515 §4.1.9 says (case-insensitive, `application/`
   * optional). Default `['at+jwt']` (RFC 9068 access tokens). A token without `typ`, or of any other type
   * (a refresh token, an ID token's `JWT`), is refused: list `'JWT'` here only for an issuer that types
   * its access tokens that way and signs nothing else `JWT` for this audience.
   */
  readonly types?: ReadonlyArray<string>;
  /** Deepest nesting of objects and arrays in the payload. Default 8. */
  readonly maxPayloadDepth?: number;
  readonly claims?: TenantClaimNames;
  /** Asked after the signature and claims pass; failures fail closed. */
  readonly revocation?: RevocationCheck;
  /** Injected time (tests, replays). Default: the system clock. */
  readonly clock?: Clock;
  /** The verified-token cache; `false` turns it off. Default: on, with its defaults. */
  readonly cache?: false | VerifiedTokenCacheOptions;
  /**
   * Where the verifier reports what no request is answered with: a fetched key set it refused to use
   * (pino's logger fits). Never given a token or key material. Default: nothing is reported.
   */
  readonly logger?: VerifierLogger;
}

/** The part of a pino-compatible logger the verifier uses. */
export interface VerifierLogger {
  warn(details: object, message: string): void;
}

export type ResolvedKeySource =
  | { readonly kind: 'local'; readonly jwks: JSONWebKeySet }
  | {
      readonly kind: 'remote';
      readonly url: URL;
      readonly timeoutMs: number;
      readonly cooldownMs: number;
      readonly cacheMaxAgeMs: number;
    };

/** The options after validation and defaults; frozen. */
export interface ResolvedVerifierOptions {
  readonly issuer: string;
  readonly audience: ReadonlyArray<string>;
  readonly algorithms: ReadonlyArray<AsymmetricAlgorithm>;
  readonly keys: ResolvedKeySource;
  readonly clockToleranceSeconds: number;
  readonly maxTokenBytes: number;
  readonly maxTokenAgeSeconds: number | null;
  readonly maxLifetimeSeconds: number;
  /** Normalised (lower case, `application/` prefixed): compare with {@link normalizeType}. */
  readonly types: ReadonlyArray<string>;
  readonly maxPayloadDepth: number;
  readonly orgClaim: string;
  readonly workspaceClaim: string;
  readonly revocation: RevocationCheck | null;
  readonly clock: Clock;
  /** `null` when caching is off. */
  readonly cache: { readonly maxEntries: number; readonly maxAgeSeconds: number } | null;
  readonly logger: VerifierLogger | null;
}

const TOP_LEVEL_OPTIONS = new Set([
  'issuer',
  'audience',
  'algorithms',
  'keys',
  'clockToleranceSeconds',
  'maxTokenBytes',
  'maxTokenAgeSeconds',
  'maxLifetimeSeconds',
  'types',
  'maxPayloadDepth',
  'claims',
  'revocation',
  'clock',
  'cache',
  'logger',
]);
const LOCAL_KEY_OPTIONS = new Set(['jwks']);
const REMOTE_KEY_OPTIONS = new Set(['jwksUrl', 'timeoutMs', 'cooldownMs', 'cacheMaxAgeMs']);
const CLAIM_OPTIONS = new Set(['org', 'workspace']);
const CACHE_OPTIONS = new Set(['maxEntries', 'maxAgeSeconds']);

const LOOPBACK_HOSTS = new Set(['127.0.0.1', '[::1]', 'localhost']);

/** Claim names the tenant claims may not take: they already mean something else. */
const REGISTERED_CLAIMS = new Set(['iss', 'sub', 'aud', 'exp', 'nbf', 'iat', 'jti', 'sid']);
const CLAIM_NAME = /^[A-Za-z][A-Za-z0-9_.:-]{0,63}$/;

const DEFAULTS = Object.freeze({
  clockToleranceSeconds: 30,
  maxTokenBytes: 8192,
  maxPayloadDepth: 8,
  orgClaim: 'org',
  workspaceClaim: 'workspace',
  timeoutMs: 5_000,
  cooldownMs: 30_000,
  cacheMaxAgeMs: 600_000,
  cacheMaxEntries: 10_000,
  cacheMaxAgeSeconds: 60,
  maxLifetimeSeconds: 86_400,
  types: Object.freeze(['application/at+jwt']),
});

/**
 * A media type as `typ` carries it (RFC 6838 restricted names, ASCII only, so no look-alike letter can
 * lower-case into an accepted type), with or without its `application/` top-level type.
 */
const MEDIA_TYPE = /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}(\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126})?$/;

/**
 * A `typ` value in the form it is compared in, or `null` when it is not a media type at all: RFC 7515
 * §4.1.9 — a value without `/` means `application/<value>` — and media types are case-insensitive.
 *
 * @example
 * ```ts
 * normalizeType('AT+JWT') === normalizeType('application/at+jwt'); // true
 * ```
 */
export function normalizeType(value: unknown): string | null {
  if (typeof value !== 'string' || !MEDIA_TYPE.test(value)) return null;
  const lower = value.toLowerCase(); // ASCII only (MEDIA_TYPE)
  return lower.includes('/') ? lower : `application/${lower}`;
}

/**
 * Validates verifier options and applies defaults. Every misuse throws a `TypeError` naming the option:
 * configuration is validated at assembly, not on the first request.
 *
 * @example
 * ```ts
 * resolveVerifierOptions({ issuer, audience, algorithms: ['HS256'], keys }); // throws TypeError
 * ```
 */
export function resolveVerifierOptions(options: TokenVerifierOptions): ResolvedVerifierOptions {
  if (!isPlainObject(options)) fail('options must be an object');
  if (Object.hasOwn(options, 'requiredType')) {
    fail('"requiredType" was replaced by "types", the list of accepted "typ" values (default ["at+jwt"])');
  }
  refuseUnknown(options, TOP_LEVEL_OPTIONS, 'options');

  const issuer = options.issuer;
  if (typeof issuer !== 'string' || issuer.trim() === '' || issuer !== issuer.trim()) {
    fail('"issuer" must be a non-empty string without surrounding whitespace');
  }

  const audience = resolveAudience(options.audience);
  const algorithms = resolveAlgorithms(options.algorithms);
  const keys = resolveKeys(options.keys, algorithms);

  const clockToleranceSeconds = optionalNumber(options.clockToleranceSeconds, 'clockToleranceSeconds', {
    min: 0,
    max: 300,
    integer: false,
  });
  const maxTokenBytes = optionalNumber(options.maxTokenBytes, 'maxTokenBytes', {
    min: 256,
    max: 65_536,
    integer: true,
  });
  const maxTokenAgeSeconds = optionalNumber(options.maxTokenAgeSeconds, 'maxTokenAgeSeconds', {
    min: 1,
    max: 31_536_000,
    integer: false,
  });
  const maxLifetimeSeconds = optionalNumber(options.maxLifetimeSeconds, 'maxLifetimeSeconds', {
    min: 1,
    max: 31_536_000,
    integer: false,
  });
  const maxPayloadDepth = optionalNumber(options.maxPayloadDepth, 'maxPayloadDepth', {
    min: 1,
    max: 64,
    integer: true,
  });

  const types = resolveTypes(options.types);

  const { orgClaim, workspaceClaim } = resolveClaimNames(options.claims);

  const revocation = options.revocation;
  if (
    revocation !== undefined &&
    (typeof revocation !== 'object' || revocation === null || typeof revocation.isRevoked !== 'function')
  ) {
    fail('"revocation" must be an object with an isRevoked(token) method');
  }

  const clock = options.clock;
  if (clock !== undefined) {
    if (!isClock(clock)) fail('"clock" must be a Clock: an object with a now() method returning a Date');
    const sample: unknown = clock.now();
    if (!(sample instanceof Date) || Number.isNaN(sample.getTime())) fail('"clock" must return a valid Date');
  }

  const cache = resolveCache(options.cache);

  const logger = options.logger;
  if (logger !== undefined && (typeof logger !== 'object' || logger === null || typeof logger.warn !== 'function')) {
    fail('"logger" must be an object with a warn(details, message) method (a pino logger fits)');
  }

  return Object.freeze({
    issuer,
    audience,
    algorithms,
    keys,
    clockToleranceSeconds: clockToleranceSeconds ?? DEFAULTS.clockToleranceSeconds,
    maxTokenBytes: maxTokenBytes ?? DEFAULTS.maxTokenBytes,
    maxTokenAgeSeconds: maxTokenAgeSeconds ?? null,
    maxLifetimeSeconds: maxLifetimeSeconds ?? DEFAULTS.maxLifetimeSeconds,
    types,
    maxPayloadDepth: maxPayloadDepth ?? DEFAULTS.maxPayloadDepth,
    orgClaim,
    workspaceClaim,
    revocation: revocation ?? null,
    clock: clock ?? systemClock,
    cache,
    logger: logger ?? null,
  });
}

function resolveTypes(value: unknown): ReadonlyArray<string> {
  if (value === undefined) return DEFAULTS.types;
  if (!Array.isArray(value) || value.length === 0) {
    fail('"types" must be a non-empty array of media types such as "at+jwt" (a missing "typ" is never accepted)');
  }
  const types: string[] = [];
  for (const type of value as unknown[]) {
    const normalized = normalizeType(type);
    if (normalized === null) fail(`"types" contains ${JSON.stringify(type)}, which is not a media type such as "at+jwt"`);
    if (types.includes(normalized)) fail(`"types" lists ${JSON.stringify(type)} twice (compared case-insensitively, "application/" optional)`);
    types.push(normalized);
  }
  return Object.freeze(types);
}

function resolveAudience(value: unknown): ReadonlyArray<string> {
  const list = typeof value === 'string' ? [value] : value;
  if (!Array.isArray(list) || list.length === 0 || !list.every((a) => typeof a === 'string' && a !== '')) {
    fail('"audience" must be a non-empty string or a non-empty array of non-empty strings');
  }
  return Object.freeze([...(list as string[])]);
}

function resolveAlgorithms(value: unknown): ReadonlyArray<AsymmetricAlgorithm> {
  if (!Array.isArray(value) || value.length === 0) {
    fail('"algorithms" must be a non-empty array of asymmetric JWS algorithms');
  }
  const seen = new Set<string>();
  for (const alg of value as unknown[]) {
    if (typeof alg !== 'string') fail('"algorithms" must contain only algorithm names');
    if (alg.toLowerCase() === 'none') fail('"algorithms" must not contain "none": unsigned tokens are never accepted');
    if (/^HS\d+$/i.test(alg)) {
      fail(`"algorithms" must not contain ${alg}: shared-secret (HMAC) algorithms are refused, use an asymmetric one`);
    }
    if (!(ASYMMETRIC_ALGORITHMS as ReadonlyArray<string>).includes(alg)) {
      fail(`"algorithms" contains ${JSON.stringify(alg)}, which is not one of ${ASYMMETRIC_ALGORITHMS.join(', ')}`);
    }
    if (seen.has(alg)) fail(`"algorithms" lists ${alg} twice`);
    seen.add(alg);
  }
  return Object.freeze([...(value as AsymmetricAlgorithm[])]);
}

function resolveKeys(value: unknown, algorithms: ReadonlyArray<AsymmetricAlgorithm>): ResolvedKeySource {
  if (!isPlainObject(value)) fail('"keys" must be { jwks } or { jwksUrl }');
  const hasLocal = 'jwks' in value;
  const hasRemote = 'jwksUrl' in value;
  if (hasLocal === hasRemote) fail('"keys" must have exactly one of "jwks" and "jwksUrl"');
  if (hasLocal) {
    refuseUnknown(value, LOCAL_KEY_OPTIONS, 'keys');
    return Object.freeze({ kind: 'local', jwks: resolveLocalJwks(value['jwks'], algorithms) });
  }
  refuseUnknown(value, REMOTE_KEY_OPTIONS, 'keys');
  return Object.freeze({
    kind: 'remote',
    url: resolveJwksUrl(value['jwksUrl']),
    timeoutMs:
      optionalNumber(value['timeoutMs'], 'keys.timeoutMs', { min: 1, max: 60_000, integer: true }) ??
      DEFAULTS.timeoutMs,
    cooldownMs:
      optionalNumber(value['cooldownMs'], 'keys.cooldownMs', { min: 0, max: 86_400_000, integer: true }) ??
      DEFAULTS.cooldownMs,
    cacheMaxAgeMs:
      optionalNumber(value['cacheMaxAgeMs'], 'keys.cacheMaxAgeMs', { min: 0, max: 86_400_000, integer: true }) ??
      DEFAULTS.cacheMaxAgeMs,
  });
}

function resolveLocalJwks(value: unknown, algorithms: ReadonlyArray<AsymmetricAlgorithm>): JSONWebKeySet {
  if (!isPlainObject(value) || !Array.isArray(value['keys']) || value['keys'].length === 0) {
    fail('"keys.jwks" must be a JSON Web Key Set with at least one key');
  }
  const keys = value['keys'] as unknown[];
  const kids = new Set<string>();
  let usable = 0;
  keys.forEach((key, index) => {
    const at = `"keys.jwks.keys[${index}]"`;
    if (!isPlainObject(key)) fail(`${at} must be a JSON Web Key object`);
    const kty = key['kty'];
    if (kty === 'oct') fail(`${at} is a symmetric ("oct") key; only public keys are accepted`);
    const secret = secretMaterial(key);
    if (secret !== null) fail(`${at} contains private key material ("${secret}"); publish public keys only`);
    if (kty !== 'EC' && kty !== 'OKP' && kty !== 'RSA') fail(`${at} has an unsupported "kty"`);
    const kid = key['kid'];
    if (kid !== undefined) {
      if (typeof kid !== 'string' || kid === '') fail(`${at} has a "kid" that is not a non-empty string`);
      if (kids.has(kid)) fail(`${at} repeats "kid" ${JSON.stringify(kid)}; each key needs its own kid`);
      kids.add(kid);
    }
    if (kty === 'RSA') {
      const n = key['n'];
      // base64url without padding: 342 characters encode 256 bytes, the 2048-bit minimum (RFC 8725 §3.5).
      if (typeof n !== 'string' || n.length < 342) fail(`${at} is an RSA key shorter than 2048 bits`);
    }
    if (algorithmsOf(key, algorithms).length > 0) usable += 1;
  });
  if (usable === 0) fail('"keys.jwks" has no key usable with any of the allowed "algorithms"');
  const snapshot = structuredClone(value) as unknown as JSONWebKeySet;
  try {
    createLocalJWKSet(snapshot);
  } catch {
    fail('"keys.jwks" is not a valid JSON Web Key Set');
  }
  return snapshot;
}

function resolveJwksUrl(value: unknown): URL {
  if (typeof value !== 'string' && !(value instanceof URL)) fail('"keys.jwksUrl" must be a string or a URL');
  let url: URL;
  try {
    url = new URL(value instanceof URL ? value.href : value);
  } catch {
    fail('"keys.jwksUrl" must be an absolute URL');
  }
  if (url.username !== '' || url.password !== '') fail('"keys.jwksUrl" must not carry credentials');
  if (url.protocol === 'https:') return url;
  if (url.protocol === 'http:' && LOOPBACK_HOSTS.has(url.hostname)) return url;
  fail('"keys.jwksUrl" must use https: (plain http: is allowed only for loopback hosts)');
}

function resolveClaimNames(value: unknown): { orgClaim: string; workspaceClaim: string } {
  if (value === undefined) return { orgClaim: DEFAULTS.orgClaim, workspaceClaim: DEFAULTS.workspaceClaim };
  if (!isPlainObject(value)) fail('"claims" must be an object { org?, workspace? }');
  refuseUnknown(value, CLAIM_OPTIONS, 'claims');
  const orgClaim = claimName(value['org'], 'claims.org') ?? DEFAULTS.orgClaim;
  const workspaceClaim = claimName(value['workspace'], 'claims.workspace') ?? DEFAULTS.workspaceClaim;
  if (orgClaim === workspaceClaim) fail('"claims.org" and "claims.workspace" must differ');
  return { orgClaim, workspaceClaim };
}

function resolveCache(value: unknown): ResolvedVerifierOptions['cache'] {
  if (value === false) return null;
  if (value === undefined) {
    return Object.freeze({ maxEntries: DEFAULTS.cacheMaxEntries, maxAgeSeconds: DEFAULTS.cacheMaxAgeSeconds });
  }
  if (!isPlainObject(value)) fail('"cache" must be false or an object { maxEntries?, maxAgeSeconds? }');
  refuseUnknown(value, CACHE_OPTIONS, 'cache');
  const maxEntries = optionalNumber(value['maxEntries'], 'cache.maxEntries', { min: 1, max: 1_000_000, integer: true });
  // Exclusive 0: an entry that may never be used is a misconfiguration, not a way to turn the cache off.
  const maxAgeSeconds = optionalNumber(value['maxAgeSeconds'], 'cache.maxAgeSeconds', {
    min: 0,
    max: 86_400,
    integer: false,
    minExclusive: true,
  });
  return Object.freeze({
    maxEntries: maxEntries ?? DEFAULTS.cacheMaxEntries,
    maxAgeSeconds: maxAgeSeconds ?? DEFAULTS.cacheMaxAgeSeconds,
  });
}

function claimName(value: unknown, option: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !CLAIM_NAME.test(value)) fail(`"${option}" must be a claim name`);
  if (REGISTERED_CLAIMS.has(value)) fail(`"${option}" must not be the registered claim "${value}"`);
  return value;
}

function optionalNumber(
  value: unknown,
  option: string,
  range: { readonly min: number; readonly max: number; readonly integer: boolean; readonly minExclusive?: boolean },
): number | undefined {
  if (value === undefined) return undefined;
  if (
    typeof value !== 'number' ||
    !Number.isFinite(value) ||
    (range.integer && !Number.isInteger(value)) ||
    value < range.min ||
    (range.minExclusive === true && value === range.min) ||
    value > range.max
  ) {
    const bounds =
      range.minExclusive === true ? `above ${range.min} and at most ${range.max}` : `from ${range.min} to ${range.max}`;
    fail(`"${option}" must be ${range.integer ? 'an integer' : 'a number'} ${bounds}`);
  }
  return value;
}

function refuseUnknown(value: object, known: ReadonlySet<string>, where: string): void {
  for (const key of Object.keys(value)) {
    if (!known.has(key)) fail(`${where} has an unknown option "${key}"`);
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function fail(message: string): never {
  throw new TypeError(`createTokenVerifier: ${message}`);
}
