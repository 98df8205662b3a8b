import { createLocalJWKSet, errors, importJWK } from 'jose';
import type { JSONWebKeySet, JWK, JWTVerifyGetKey } from 'jose';
import { KeysUnavailableError } from './errors.ts';
import { algorithmsOf, secretMaterial } from './key-set-rules.ts';
import type { AsymmetricAlgorithm, VerifierLogger } from './verifier-options.ts';

/** Where and how often a remote key set is fetched (validated by `resolveVerifierOptions`). */
export interface RemoteKeySetSource {
  readonly url: URL;
  readonly timeoutMs: number;
  readonly cooldownMs: number;
  readonly cacheMaxAgeMs: number;
}

/** Why a fetched key set was not taken (logged; never the keys themselves). */
export type KeySetRefusal = 'not_a_key_set' | 'secret_key_material' | 'no_usable_key';

/** The key set the verifier selects keys from, and when it was fetched (ms, on the monotonic `now`). */
interface WorkingSet {
  readonly select: ReturnType<typeof createLocalJWKSet>;
  readonly fetchedAt: number;
}

/**
 * A key set fetched from the issuer's JWKS endpoint. jose selects and imports the key (`createLocalJWKSet`
 * over the fetched set) and verifies the signature; this replaces only jose's fetching and caching, for
 * one reason: a reachable endpoint that answers a key set with no key this verifier could use (`{"keys":
 * []}`, only `oct` keys, keys of another type or curve, private keys) must never replace the set that
 * works. jose's remote set would swap it in on the next unknown `kid`, and every known key would then
 * fail until a later refetch. (jose's `customFetch` hook can inspect the answer, but refusing there
 * leaves jose's cooldown unstarted, so each unknown `kid` would refetch; answering the old set instead
 * would make a refused set count as fresh and extend trust in the old keys.)
 *
 * The rules, jose's where they exist:
 * - the working set is used while it is younger than `cacheMaxAgeMs` (from the fetch that brought it);
 *   older, it is refetched before use, and a failed or refused refetch then answers 503 (keys
 *   unavailable): trust in a set is bounded by its age, whatever the endpoint answers meanwhile;
 * - a `kid` the working set does not have triggers a refetch unless the last attempt (of any outcome:
 *   a refused or failed one counts too, so random `kid`s cannot turn the verifier into a fetch
 *   amplifier) is younger than `cooldownMs`; the token is then looked up in the set that resulted —
 *   the new one, or the kept one — so an unknown `kid` is 401 as before;
 * - a fetch is a GET without redirects, aborted after `timeoutMs` (body included); concurrent callers
 *   share one fetch;
 * - a refused set is reported to `logger.warn` with the endpoint (origin and path: a query may carry a
 *   credential), the reason and the number of keys, never a key.
 *
 * `now` measures those ages in ms: a monotonic clock by default (`performance.now`), so a wall clock that
 * jumps back cannot keep a set fresh, nor one that jumps ahead end a cooldown early (jose uses `Date.now`).
 * Tests inject one. It is not the verifier's `clock`, which is the time tokens are judged at.
 *
 * @example
 * ```ts
 * const getKey = createRemoteKeySet({ url, timeoutMs: 5_000, cooldownMs: 30_000, cacheMaxAgeMs: 600_000 }, ['ES256'], logger);
 * await jwtVerify(token, getKey, { algorithms: ['ES256'] });
 * ```
 */
export function createRemoteKeySet(
  source: RemoteKeySetSource,
  algorithms: ReadonlyArray<AsymmetricAlgorithm>,
  logger: VerifierLogger | null,
  now: () => number = () => performance.now(),
): JWTVerifyGetKey {
  let working: WorkingSet | null = null;
  let attemptedAt = Number.NEGATIVE_INFINITY;
  let pending: Promise<'replaced' | 'refused'> | null = null;
  const endpoint = `${source.url.origin}${source.url.pathname}`;

  const within = (since: number, duration: number): boolean => now() < since + duration;

  /** One fetch at a time: 'replaced' the working set, 'refused' the answer (working set kept), or rejects. */
  const refresh = (): Promise<'replaced' | 'refused'> => {
    if (pending !== null) return pending;
    attemptedAt = now();
    const current: Promise<'replaced' | 'refused'> = (async () => {
      const fetched = await fetchKeySet(source);
      const refusal = await refusalOf(fetched, algorithms);
      if (refusal !== null) {
        const keys = isKeySetShaped(fetched) ? fetched.keys.length : null;
        logger?.warn(
          { jwksUrl: endpoint, reason: refusal, keys, keptWorkingSet: working !== null },
          'refused a fetched JSON Web Key Set with no key usable with the allowed algorithms; the key set in use is kept',
        );
        return 'refused';
      }
      working = { select: createLocalJWKSet(fetched as JSONWebKeySet), fetchedAt: now() };
      return 'replaced';
    })().finally(() => {
      if (pending === current) pending = null;
    });
    pending = current;
    return current;
  };

  return async (protectedHeader, token) => {
    if (working === null || !within(working.fetchedAt, source.cacheMaxAgeMs)) {
      if ((await refresh()) === 'refused' || working === null) throw new KeysUnavailableError('no_usable_key');
    }
    const inUse: WorkingSet = working;
    try {
      return await inUse.select(protectedHeader, token);
    } catch (error) {
      if (!(error instanceof errors.JWKSNoMatchingKey) || within(attemptedAt, source.cooldownMs)) throw error;
    }
    await refresh();
    // The set that resulted: the new one, or the one kept because the answer was refused.
    return (working ?? inUse).select(protectedHeader, token);
  };
}

/** GET the key set: 200 and JSON, or a `KeysUnavailableError` (timeout, or anything else as fetch_failed). */
async function fetchKeySet(source: RemoteKeySetSource): Promise<unknown> {
  const signal = AbortSignal.timeout(source.timeoutMs);
  const timedOut = (cause: unknown): KeysUnavailableError =>
    signal.aborted ? new KeysUnavailableError('timeout', { cause }) : new KeysUnavailableError('fetch_failed', { cause });
  let response: Response;
  try {
    response = await fetch(source.url, {
      method: 'GET',
      redirect: 'manual',
      signal,
      headers: { accept: 'application/json, application/jwk-set+json' },
    });
  } catch (cause) {
    throw timedOut(cause);
  }
  if (response.status !== 200) {
    await response.body?.cancel().catch(() => undefined);
    throw new KeysUnavailableError('fetch_failed', { cause: new Error(`the JWKS endpoint answered ${response.status}`) });
  }
  try {
    return await response.json();
  } catch (cause) {
    throw timedOut(cause);
  }
}

/**
 * Why a fetched value cannot become the working set, or `null`. A set is taken only when it is a key set
 * that publishes no secret (symmetric or private key material: such a set is refused whole, as a local
 * one is at assembly) and has at least one key jose can import as a public verification key for an
 * allowed algorithm (by `kty`, `crv`, `alg`, `use` and `key_ops`, as jose selects keys).
 */
async function refusalOf(value: unknown, algorithms: ReadonlyArray<AsymmetricAlgorithm>): Promise<KeySetRefusal | null> {
  if (!isKeySetShaped(value)) return 'not_a_key_set';
  try {
    createLocalJWKSet(value as JSONWebKeySet);
  } catch {
    return 'not_a_key_set';
  }
  const keys = value.keys as ReadonlyArray<Record<string, unknown>>;
  if (keys.some((key) => secretMaterial(key) !== null)) return 'secret_key_material';
  for (const key of keys) {
    if (await isUsable(key, algorithms)) return null;
  }
  return 'no_usable_key';
}

async function isUsable(key: Readonly<Record<string, unknown>>, algorithms: ReadonlyArray<AsymmetricAlgorithm>): Promise<boolean> {
  const use = key['use'];
  const ops = key['key_ops'];
  if (use !== undefined && use !== 'sig') return false;
  if (ops !== undefined && !(Array.isArray(ops) && ops.includes('verify'))) return false;
  for (const alg of algorithmsOf(key, algorithms)) {
    try {
      const imported = await importJWK(key as JWK, alg);
      if (typeof imported === 'object' && 'type' in imported && imported.type === 'public') return true;
    } catch {
      // Not importable for this algorithm (a missing or malformed member): try the next one.
    }
  }
  return false;
}

function isKeySetShaped(value: unknown): value is { readonly keys: ReadonlyArray<Record<string, unknown>> } {
  return (
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    Array.isArray((value as { keys?: unknown }).keys) &&
    ((value as { keys: unknown[] }).keys).every((key) => typeof key === 'object' && key !== null && !Array.isArray(key))
  );
}
