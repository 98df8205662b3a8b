import { systemClock, type Clock } from '@covenant/core';
import { Buffer } from 'node:buffer';
import { createHmac, randomUUID } from 'node:crypto';
import { SignJWT, exportJWK, exportSPKI, generateKeyPair } from 'jose';
import type { JSONWebKeySet, JWK } from 'jose';
import type { AsymmetricAlgorithm } from '../verifier-options.ts';

/** The algorithms a test issuer can sign with: one per key family. */
export type TestAlgorithm = 'ES256' | 'EdDSA' | 'RS256';

export interface TestIssuerOptions {
  /** Default `https://issuer.covenant.test`. */
  readonly issuer?: string;
  /** Default `covenant-test-api`. */
  readonly audience?: string;
  /** Default `ES256`. */
  readonly alg?: TestAlgorithm;
  /** One key pair per kid; the first signs by default. Default `['test-key-1']`. */
  readonly kids?: ReadonlyArray<string>;
  /** Time for `iat`, `exp`, `nbf`; pass the verifier's clock so both agree. Default: the system clock. */
  readonly clock?: Clock;
}

/** Claims for {@link TestIssuer.mint}: `sub` and `org` always, anything else as given. */
export interface TestClaims {
  readonly sub: string;
  readonly org: string;
  readonly workspace?: string;
  readonly sid?: string;
  readonly jti?: string;
  readonly [claim: string]: unknown;
}

/** Registered claims `mint` fills in by default and can leave out. */
export type DefaultClaim = 'iss' | 'aud' | 'exp' | 'iat' | 'jti';

export interface MintOptions {
  /** Which of the issuer's keys signs. Default: the first kid. */
  readonly kid?: string;
  /** `exp` = now + this, in seconds; may be negative. Default 300. */
  readonly expiresIn?: number;
  /** `nbf`, absolute, in seconds since the epoch. Default: none. */
  readonly notBefore?: number;
  /** `iat`, absolute, in seconds since the epoch. Default: now. */
  readonly issuedAt?: number;
  /** Merged over the default header `{ alg, kid, typ: 'at+jwt' }`. */
  readonly header?: Readonly<Record<string, unknown>>;
  /** Overrides `iss`. */
  readonly issuer?: string;
  /** Overrides `aud`. */
  readonly audience?: string;
  /** Default claims to leave out, e.g. `['exp']` for a token without expiry. */
  readonly omit?: ReadonlyArray<DefaultClaim>;
}

/** Key-confusion variants: which bytes of the public key become the HMAC secret. */
export type PublicKeyForm = 'spki-pem' | 'jwk-json';

/** Hostile tokens for a denial test matrix. Each one differs from a valid token in one way only. */
export interface TokenForgeries {
  /** `alg: none`, empty signature. */
  algNone(claims: TestClaims): Promise<string>;
  /** HS256 keyed with the issuer's public key bytes (the classic RS/HS key confusion). */
  hs256WithPublicKey(claims: TestClaims, form?: PublicKeyForm): Promise<string>;
  /** The payload changed (`changes` merged in), header and signature kept. */
  tampered(token: string, changes?: Readonly<Record<string, unknown>>): string;
  /** Validly signed by a key that is not in the JWKS, under a kid the JWKS does not have. */
  unknownKid(claims: TestClaims): Promise<string>;
  /** Signed by a key that is not in the JWKS, under a kid the JWKS has (default: the first). */
  wrongKey(claims: TestClaims, kid?: string): Promise<string>;
  /**
   * Signs these exact header and payload texts with the issuer's real key for `kid` (default: the first):
   * duplicate members, escaped names, deep nesting, odd claim types, all validly signed.
   */
  rawSigned(headerJson: string, payloadJson: string, kid?: string): Promise<string>;
  /** Signed properly, but for another issuer. */
  wrongIssuer(claims: TestClaims): Promise<string>;
  /** Signed properly, but for another audience. */
  wrongAudience(claims: TestClaims): Promise<string>;
  /** Signed properly, expired an hour ago. */
  expired(claims: TestClaims): Promise<string>;
  /**
   * Signed properly with the issuer's key, for the same audience, but typed as another kind of token
   * (default `rt+jwt`, a refresh token): what an issuer signs for other purposes.
   */
  wrongType(claims: TestClaims, typ?: string): Promise<string>;
  /** Signed properly, living `seconds` from now (default ten years) with `iat` now. */
  longLived(claims: TestClaims, seconds?: number): Promise<string>;
}

/** The options a verifier needs to trust this issuer (local JWKS with every kid). */
export interface TestVerifierOptions {
  readonly issuer: string;
  readonly audience: string;
  readonly algorithms: ReadonlyArray<AsymmetricAlgorithm>;
  readonly keys: { readonly jwks: JSONWebKeySet };
}

export interface TestIssuer {
  readonly issuer: string;
  readonly audience: string;
  readonly alg: TestAlgorithm;
  readonly kids: ReadonlyArray<string>;
  /** The public key set: every kid, or only those named (to serve a rotated set). */
  jwks(kids?: ReadonlyArray<string>): JSONWebKeySet;
  /** A signed compact JWT. Defaults: header `typ: at+jwt`; `iss`, `aud`, `iat` now, `exp` now + 300 s, random `jti`. */
  mint(claims: TestClaims, options?: MintOptions): Promise<string>;
  /** The payload `mint` would sign, as an object (to serialise by hand for `forge.rawSigned`). */
  claims(claims: TestClaims, options?: MintOptions): Record<string, unknown>;
  /** The header JSON `mint` would use for `kid`, as text. */
  headerJson(kid?: string): string;
  verifierOptions(): TestVerifierOptions;
  readonly forge: TokenForgeries;
}

interface KeyEntry {
  readonly kid: string;
  readonly privateKey: CryptoKey;
  readonly publicKey: CryptoKey;
  readonly publicJwk: JWK;
}

const SUBTLE_SIGN: Readonly<Record<TestAlgorithm, AlgorithmIdentifier | EcdsaParams>> = {
  ES256: { name: 'ECDSA', hash: 'SHA-256' },
  EdDSA: { name: 'Ed25519' },
  RS256: { name: 'RSASSA-PKCS1-v1_5' },
};

const encoder = new TextEncoder();
const b64url = (text: string): string => Buffer.from(text, 'utf8').toString('base64url');

/**
 * Creates an issuer for tests: real key pairs (one per kid), a public JWKS, a `mint` for valid tokens
 * and a `forge` for hostile ones. Test code only: it holds private keys in memory.
 *
 * @example
 * ```ts
 * const issuer = await createTestIssuer({ kids: ['k1', 'k2'] });
 * const verifier = createTokenVerifier(issuer.verifierOptions());
 * await verifier.verify(await issuer.mint({ sub: 'user_1', org: 'acme' }));
 * await expect(verifier.verify(await issuer.forge.algNone({ sub: 'user_1', org: 'acme' }))).rejects.toThrow();
 * ```
 */
export async function createTestIssuer(options: TestIssuerOptions = {}): Promise<TestIssuer> {
  const issuer = options.issuer ?? 'https://issuer.covenant.test';
  const audience = options.audience ?? 'covenant-test-api';
  const alg = options.alg ?? 'ES256';
  const kids = Object.freeze([...(options.kids ?? ['test-key-1'])]);
  const clock = options.clock ?? systemClock;
  if (kids.length === 0 || new Set(kids).size !== kids.length) {
    throw new TypeError('createTestIssuer: "kids" must be distinct and non-empty');
  }

  const keys = new Map<string, KeyEntry>();
  for (const kid of kids) keys.set(kid, await generateEntry(kid, alg));
  const stranger = await generateEntry('not-in-jwks', alg);
  const firstKid = kids[0] as string;

  const entry = (kid: string | undefined): KeyEntry => {
    const found = keys.get(kid ?? firstKid);
    if (found === undefined) throw new TypeError(`createTestIssuer: no key with kid ${JSON.stringify(kid)}`);
    return found;
  };

  const now = (): number => Math.floor(clock.now().getTime() / 1000);

  const claimsFor = (claims: TestClaims, mintOptions: MintOptions = {}): Record<string, unknown> => {
    const at = now();
    const payload: Record<string, unknown> = {
      iss: mintOptions.issuer ?? issuer,
      aud: mintOptions.audience ?? audience,
      iat: mintOptions.issuedAt ?? at,
      exp: at + (mintOptions.expiresIn ?? 300),
      jti: randomUUID(),
      ...claims,
    };
    if (mintOptions.notBefore !== undefined) payload['nbf'] = mintOptions.notBefore;
    for (const name of mintOptions.omit ?? []) delete payload[name];
    return payload;
  };

  // RFC 9068 access tokens: what a verifier accepts by default.
  const headerFor = (kid: string): Record<string, unknown> => ({ alg, kid, typ: 'at+jwt' });

  const signWith = async (key: KeyEntry, claims: TestClaims, mintOptions: MintOptions = {}): Promise<string> => {
    const header = { ...headerFor(key.kid), ...mintOptions.header } as { alg: string };
    return new SignJWT(claimsFor(claims, mintOptions)).setProtectedHeader(header).sign(key.privateKey);
  };

  const signRaw = async (key: KeyEntry, headerJson: string, payloadJson: string): Promise<string> => {
    const signingInput = `${b64url(headerJson)}.${b64url(payloadJson)}`;
    const signature = await crypto.subtle.sign(SUBTLE_SIGN[alg], key.privateKey, encoder.encode(signingInput));
    return `${signingInput}.${Buffer.from(signature).toString('base64url')}`;
  };

  const forge: TokenForgeries = Object.freeze({
    async algNone(claims: TestClaims): Promise<string> {
      const header = JSON.stringify({ alg: 'none', typ: 'at+jwt' });
      return `${b64url(header)}.${b64url(JSON.stringify(claimsFor(claims)))}.`;
    },
    async hs256WithPublicKey(claims: TestClaims, form: PublicKeyForm = 'spki-pem'): Promise<string> {
      const key = entry(undefined);
      const secret = form === 'spki-pem' ? await exportSPKI(key.publicKey) : JSON.stringify(key.publicJwk);
      const header = JSON.stringify({ alg: 'HS256', kid: key.kid, typ: 'at+jwt' });
      const signingInput = `${b64url(header)}.${b64url(JSON.stringify(claimsFor(claims)))}`;
      return `${signingInput}.${createHmac('sha256', secret).update(signingInput).digest('base64url')}`;
    },
    tampered(token: string, changes: Readonly<Record<string, unknown>> = { org: 'tampered-org' }): string {
      const [header, payload, signature] = token.split('.');
      if (header === undefined || payload === undefined || signature === undefined) {
        throw new TypeError('forge.tampered: not a compact JWS');
      }
      const original = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
      const changed = b64url(JSON.stringify({ ...original, ...changes }));
      if (changed === payload) throw new TypeError('forge.tampered: the changes leave the payload as it was');
      return `${header}.${changed}.${signature}`;
    },
    async unknownKid(claims: TestClaims): Promise<string> {
      return signWith(stranger, claims);
    },
    async wrongKey(claims: TestClaims, kid?: string): Promise<string> {
      return signWith(stranger, claims, { header: { kid: entry(kid).kid } });
    },
    async rawSigned(headerJson: string, payloadJson: string, kid?: string): Promise<string> {
      return signRaw(entry(kid), headerJson, payloadJson);
    },
    async wrongIssuer(claims: TestClaims): Promise<string> {
      return signWith(entry(undefined), claims, { issuer: 'https://wrong-issuer.covenant.test' });
    },
    async wrongAudience(claims: TestClaims): Promise<string> {
      return signWith(entry(undefined), claims, { audience: 'wrong-audience' });
    },
    async expired(claims: TestClaims): Promise<string> {
      return signWith(entry(undefined), claims, { issuedAt: now() - 3900, expiresIn: -3600 });
    },
    async wrongType(claims: TestClaims, typ = 'rt+jwt'): Promise<string> {
      return signWith(entry(undefined), claims, { header: { typ } });
    },
    async longLived(claims: TestClaims, seconds = 10 * 365 * 86_400): Promise<string> {
      return signWith(entry(undefined), claims, { expiresIn: seconds });
    },
  });

  const jwks = (only?: ReadonlyArray<string>): JSONWebKeySet => ({
    keys: (only ?? kids).map((kid) => ({ ...entry(kid).publicJwk })),
  });

  return Object.freeze({
    issuer,
    audience,
    alg,
    kids,
    jwks,
    async mint(claims: TestClaims, mintOptions?: MintOptions): Promise<string> {
      return signWith(entry(mintOptions?.kid), claims, mintOptions);
    },
    claims: claimsFor,
    headerJson: (kid?: string): string => JSON.stringify(headerFor(entry(kid).kid)),
    verifierOptions: (): TestVerifierOptions => ({ issuer, audience, algorithms: [alg], keys: { jwks: jwks() } }),
    forge,
  });
}

async function generateEntry(kid: string, alg: TestAlgorithm): Promise<KeyEntry> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const publicJwk: JWK = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  return { kid, privateKey, publicKey, publicJwk };
}
