import { sha256 } from '@noble/hashes/sha2.js';

/**
 * SHA-256 anywhere (browsers, workers): @noble/hashes, pure JS, no dependencies (ADR 0007). Selected by the
 * `#sha256` import (package.json "imports") wherever the "node" condition is not set; same exports as
 * sha256-node.ts, which Node uses because node:crypto is several times faster there.
 */

/** Which implementation this is (tests and diagnostics). */
export const SHA256_IMPLEMENTATION: string = '@noble/hashes';

/** Writes SHA-256(`data`) to `target[offset, offset + 32)`; the caller guarantees the bounds. */
export function sha256Into(data: Uint8Array, target: Uint8Array, offset: number): void {
  target.set(sha256(data), offset);
}

/** SHA-256 over the concatenation of `parts`, as a fresh plain Uint8Array. */
export function sha256Parts(parts: readonly Uint8Array[]): Uint8Array {
  const hash = sha256.create();
  for (const part of parts) hash.update(part);
  return hash.digest();
}
