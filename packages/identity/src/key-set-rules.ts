import type { AsymmetricAlgorithm } from './verifier-options.ts';

/** Members that make a JWK a private or symmetric key (RFC 7518 §6, ML-DSA `priv`). */
export const PRIVATE_KEY_MEMBERS = Object.freeze(['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k', 'priv']);

/** Which key type (and curve) each algorithm verifies with. */
const KEY_TYPE_OF: Readonly<Record<AsymmetricAlgorithm, { readonly kty: string; readonly crv?: string }>> = {
  ES256: { kty: 'EC', crv: 'P-256' },
  ES384: { kty: 'EC', crv: 'P-384' },
  ES512: { kty: 'EC', crv: 'P-521' },
  EdDSA: { kty: 'OKP', crv: 'Ed25519' },
  Ed25519: { kty: 'OKP', crv: 'Ed25519' },
  RS256: { kty: 'RSA' },
  RS384: { kty: 'RSA' },
  RS512: { kty: 'RSA' },
  PS256: { kty: 'RSA' },
  PS384: { kty: 'RSA' },
  PS512: { kty: 'RSA' },
};

/**
 * The member that makes `key` secret — a symmetric (`oct`) key, or private key material — or `null` for
 * a public key. A key set that publishes one is misconfigured at best: its keys are never used.
 *
 * @example
 * ```ts
 * secretMaterial({ kty: 'EC', crv: 'P-256', x, y, d }); // 'd'
 * ```
 */
export function secretMaterial(key: Readonly<Record<string, unknown>>): string | null {
  if (key['kty'] === 'oct') return 'kty';
  return PRIVATE_KEY_MEMBERS.find((member) => Object.hasOwn(key, member)) ?? null;
}

/**
 * The allowed algorithms `key` could verify, by its `kty`, `crv` and `alg` (a key that names an `alg`
 * verifies that one only), in the order they are allowed.
 *
 * @example
 * ```ts
 * algorithmsOf({ kty: 'OKP', crv: 'Ed25519', x }, ['ES256', 'EdDSA']); // ['EdDSA']
 * ```
 */
export function algorithmsOf(
  key: Readonly<Record<string, unknown>>,
  algorithms: ReadonlyArray<AsymmetricAlgorithm>,
): AsymmetricAlgorithm[] {
  return algorithms.filter(
    (alg) =>
      KEY_TYPE_OF[alg].kty === key['kty'] &&
      (KEY_TYPE_OF[alg].crv === undefined || KEY_TYPE_OF[alg].crv === key['crv']) &&
      (key['alg'] === undefined || key['alg'] === alg),
  );
}
