import * as nodeCrypto from 'node:crypto';

/**
 * SHA-256 on Node: node:crypto (OpenSSL, SHA-NI where the CPU has it). Selected by the `#sha256` import
 * (package.json "imports", condition "node"); sha256-portable.ts has the same exports for everywhere else.
 *
 * A log of n entries takes about 2n hashes to build or to audit, so the per-call overhead is what counts:
 * - one-shot `crypto.hash` (Node ≥ 20.12) instead of `createHash().update().digest()`; callers lay every
 *   input out contiguously in reused scratch buffers (merkle-hash.ts);
 * - the digest comes back as a 32-character latin1 ('binary') string (on the V8 heap) and is copied into the
 *   caller's Uint8Array, which V8 also keeps on its heap; a digest as a Buffer has its own off-heap backing
 *   store, and allocating and collecting those cost more than the hash itself (measured 2x per hash).
 */
const digestLatin1: (data: Uint8Array) => string =
  typeof (nodeCrypto as { hash?: unknown }).hash === 'function'
    ? (data) => nodeCrypto.hash('sha256', data, 'binary')
    : (data) => nodeCrypto.createHash('sha256').update(data).digest('binary');

/** Which implementation this is (tests and diagnostics). */
export const SHA256_IMPLEMENTATION: string = 'node:crypto';

/** Writes SHA-256(`data`) to `target[offset, offset + 32)`; the caller guarantees the bounds. */
export function sha256Into(data: Uint8Array, target: Uint8Array, offset: number): void {
  const digest = digestLatin1(data);
  for (let i = 0; i < 32; i += 1) target[offset + i] = digest.charCodeAt(i);
}

/** SHA-256 over the concatenation of `parts`, as a fresh plain Uint8Array (not a Node Buffer). */
export function sha256Parts(parts: readonly Uint8Array[]): Uint8Array {
  const hash = nodeCrypto.createHash('sha256');
  for (const part of parts) hash.update(part);
  return new Uint8Array(hash.digest());
}
