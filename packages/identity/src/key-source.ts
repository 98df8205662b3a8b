import { createLocalJWKSet, errors } from 'jose';
import type { JWTVerifyGetKey } from 'jose';
import {
  AlgorithmNotAllowedError,
  IdentityError,
  KeyNotFoundError,
  KeysUnavailableError,
} from './errors.ts';
import { createRemoteKeySet } from './remote-key-set.ts';
import type { AsymmetricAlgorithm, ResolvedKeySource, VerifierLogger } from './verifier-options.ts';

/**
 * Builds the key resolver jose calls with each token's header. jose picks the key by `kid`, `alg`,
 * `kty`, `crv`, `use` and `key_ops`; this wrapper turns every failure of the key source into an
 * identity error right where it happens, so a network failure can never be mistaken for a bad token
 * (503, not 401) and a bad token never for an outage.
 *
 * A remote set (`createRemoteKeySet`) is refetched when it is older than `cacheMaxAgeMs`, and when a
 * token names an unknown `kid` and the last fetch attempt is older than `cooldownMs`: that is how a
 * rotated-in key is picked up, and the cooldown is what keeps random `kid`s from turning the verifier
 * into a fetch amplifier. A fetched set with no usable key never replaces the one in use.
 *
 * @example
 * ```ts
 * const getKey = createKeyResolver({ kind: 'local', jwks: { keys: [publicJwk] } }, ['ES256'], null);
 * await jwtVerify(token, getKey, { algorithms: ['ES256'] });
 * ```
 */
export function createKeyResolver(
  source: ResolvedKeySource,
  algorithms: ReadonlyArray<AsymmetricAlgorithm>,
  logger: VerifierLogger | null,
): JWTVerifyGetKey {
  const inner: JWTVerifyGetKey =
    source.kind === 'local' ? createLocalJWKSet(source.jwks) : createRemoteKeySet(source, algorithms, logger);
  return async (protectedHeader, token) => {
    try {
      return await inner(protectedHeader, token);
    } catch (error) {
      throw keySourceError(error);
    }
  };
}

function keySourceError(error: unknown): IdentityError {
  if (error instanceof IdentityError) return error;
  if (error instanceof errors.JWKSNoMatchingKey) return new KeyNotFoundError('no_matching_key');
  if (error instanceof errors.JWKSMultipleMatchingKeys) return new KeyNotFoundError('several_matching_keys');
  // The allowlist is checked before the key is looked up; this is a second line only.
  if (error instanceof errors.JOSENotSupported) return new AlgorithmNotAllowedError();
  if (error instanceof errors.JWKSTimeout) return new KeysUnavailableError('timeout', { cause: error });
  if (error instanceof errors.JWKSInvalid || error instanceof errors.JWKInvalid) {
    return new KeysUnavailableError('invalid_key_set', { cause: error });
  }
  // Network errors, a non-200 answer, a body that is not JSON, a key that does not import …
  return new KeysUnavailableError('fetch_failed', { cause: error });
}
