/**
 * Verified-token cache: verifications per second without the cache and on a cache hit, measured in the
 * same run. A benchmark, not a test (nothing here asserts a time).
 *
 *   node --import tsx packages/identity/bench/token-cache.ts
 *
 * (`tsx` has to resolve from the working directory: from the repo root, where it is not hoisted, use
 * `packages/rbac/node_modules/.bin/tsx packages/identity/bench/token-cache.ts` instead.)
 *
 * One EdDSA test issuer signs a pool of distinct tokens; both verifiers use a local JWKS and an in-memory
 * revocation list, as a single-process deployment would, so a hit pays for the revocation check it
 * always makes. Modes, interleaved (uncached, cached, uncached, …) so that drift on the machine affects
 * both alike, sequential `verify` calls, median of the repeats:
 * - uncached: `cache: false`, every call is the full verification (precheck, jose, claims, revocation);
 * - cached: the default cache, warmed with the pool; every call is a hit.
 * The last line of output is the raw numbers as JSON.
 */
import { performance } from 'node:perf_hooks';
import { createMemoryRevocationList } from '../src/revocation.ts';
import { createTestIssuer } from '../src/testing/index.ts';
import { createTokenVerifier } from '../src/verify-token.ts';
import type { TokenVerifier } from '../src/verify-token.ts';

const POOL = 500;
const REPEATS = 7;
const UNCACHED_BATCH = 3_000;
const CACHED_BATCH = 300_000;

async function run(verifier: TokenVerifier, tokens: ReadonlyArray<string>, count: number): Promise<number> {
  const started = performance.now();
  for (let i = 0; i < count; i += 1) await verifier.verify(tokens[i % tokens.length] as string);
  return count / ((performance.now() - started) / 1000);
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
};

async function main(): Promise<void> {
  const issuer = await createTestIssuer({ alg: 'EdDSA' });
  const tokens = await Promise.all(
    Array.from({ length: POOL }, (_, i) =>
      issuer.mint({ sub: `user-${i}`, org: 'acme', sid: `session-${i}` }, { expiresIn: 3_600 }),
    ),
  );
  const revocation = createMemoryRevocationList();
  revocation.revokeSession('session-not-in-the-pool');
  const options = { ...issuer.verifierOptions(), revocation };
  const uncached = createTokenVerifier({ ...options, cache: false });
  const cached = createTokenVerifier(options);

  // Warm the JIT on both paths, and the cache with the whole pool.
  await run(uncached, tokens, POOL);
  await run(cached, tokens, POOL * 4);

  const samples = { uncached: [] as number[], cached: [] as number[] };
  for (let r = 0; r < REPEATS; r += 1) {
    samples.uncached.push(await run(uncached, tokens, UNCACHED_BATCH));
    samples.cached.push(await run(cached, tokens, CACHED_BATCH));
  }

  const perSecond = { uncached: Math.round(median(samples.uncached)), cached: Math.round(median(samples.cached)) };
  const ratio = perSecond.cached / perSecond.uncached;
  console.log(
    `verified-token cache: EdDSA, ${POOL} distinct tokens, local JWKS, in-memory revocation list; ` +
      `median of ${REPEATS} interleaved repeats, sequential verify calls`,
  );
  console.log(['mode', 'verifies/s', 'µs/verify'].map((h, i) => (i === 0 ? h.padEnd(10) : h.padStart(14))).join(''));
  for (const mode of ['uncached', 'cached'] as const) {
    const row = [mode, perSecond[mode].toLocaleString('en-US'), (1e6 / perSecond[mode]).toFixed(2)];
    console.log(row.map((c, i) => (i === 0 ? c.padEnd(10) : c.padStart(14))).join(''));
  }
  console.log(`cached/uncached ratio: ${ratio.toFixed(1)}`);
  console.log(
    JSON.stringify({
      alg: 'EdDSA',
      pool: POOL,
      repeats: REPEATS,
      batch: { uncached: UNCACHED_BATCH, cached: CACHED_BATCH },
      verificationsPerSecond: perSecond,
      ratio: Number(ratio.toFixed(1)),
      raw: samples,
      node: process.version,
    }),
  );
}

await main();
