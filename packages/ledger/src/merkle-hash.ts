// The SHA-256 primitive is chosen per environment (package.json "imports"): node:crypto on Node (fast path),
// @noble/hashes elsewhere (a browser verifier). Nothing else here depends on the environment.
import { sha256Into as digestInto, sha256Parts } from '#sha256';

/** The size in bytes of every hash in the ledger: SHA-256. */
export const HASH_SIZE = 32;

/*
 * A log of n entries takes about 2n hashes to build or to audit, so every input is laid out contiguously
 * (prefix byte, then the data) in a reused scratch buffer and hashed in one call, straight into the output
 * (all functions here are synchronous, so sharing the scratch buffers is safe).
 */
const LEAF_PREFIX = new Uint8Array([0x00]);
/** 0x01 ‖ left ‖ right. */
const NODE_INPUT = new Uint8Array(1 + 2 * HASH_SIZE);
NODE_INPUT[0] = 0x01;
/** 0x00 ‖ entry, grown on demand up to LEAF_SCRATCH_MAX; larger entries are hashed in parts. */
let leafInput = new Uint8Array(1 + 4096);
const LEAF_SCRATCH_MAX = 1 + 65_536;

/**
 * The root of the empty tree, MTH({}) = SHA-256() (RFC 9162 §2.1.1).
 *
 * A `Uint8Array` cannot be frozen, so this is shared, mutable memory: treat it as read-only. Nothing in
 * this package reads it back (the tree and the verifier hold their own copy), so a caller who writes to it
 * only hurts themselves.
 *
 * @example
 * ```ts
 * createMerkleTree().root(); // equal bytes to EMPTY_ROOT (e3b0c442…b855)
 * ```
 */
export const EMPTY_ROOT: Uint8Array = sha256();

/**
 * The hash of one log entry: SHA-256(0x00 ‖ entry) (RFC 9162 §2.1.1, "leaf hash").
 *
 * The 0x00 / 0x01 prefixes separate the leaf and node domains, so an interior node can never be passed
 * off as a leaf (the second-preimage attack on unprefixed Merkle trees).
 *
 * @example
 * ```ts
 * const hash = leafHash(new TextEncoder().encode('{"seq":1}')); // 32 bytes
 * ```
 */
export function leafHash(entry: Uint8Array): Uint8Array {
  if (!(entry instanceof Uint8Array)) throw new TypeError('leafHash: entry must be a Uint8Array');
  const length = entry.length + 1;
  if (length > leafInput.length) {
    if (length > LEAF_SCRATCH_MAX) return sha256(LEAF_PREFIX, entry);
    leafInput = new Uint8Array(Math.min(LEAF_SCRATCH_MAX, Math.max(length, 2 * leafInput.length)));
  }
  leafInput[0] = 0x00;
  leafInput.set(entry, 1);
  return sha256Of(leafInput.subarray(0, length));
}

/**
 * The hash of an interior node: SHA-256(0x01 ‖ left ‖ right) (RFC 9162 §2.1.1).
 *
 * Both children must be 32-byte hashes: anything else is a programming error, not hostile data (the
 * verifier checks lengths of untrusted hashes before it hashes them).
 *
 * @example
 * ```ts
 * const parent = nodeHash(leafHash(a), leafHash(b));
 * ```
 */
export function nodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  if (!(left instanceof Uint8Array) || left.length !== HASH_SIZE) {
    throw new TypeError('nodeHash: left must be a 32-byte Uint8Array');
  }
  if (!(right instanceof Uint8Array) || right.length !== HASH_SIZE) {
    throw new TypeError('nodeHash: right must be a 32-byte Uint8Array');
  }
  NODE_INPUT.set(left, 1);
  NODE_INPUT.set(right, 1 + HASH_SIZE);
  return sha256Of(NODE_INPUT);
}

/**
 * nodeHash of two adjacent 32-byte hashes (left ‖ right at `sourceOffset` of `source`, as the tree stores
 * its levels), written to `target` at `targetOffset`; the caller guarantees the bounds (internal: not
 * exported from the package).
 */
export function nodeHashOfPairInto(source: Uint8Array, sourceOffset: number, target: Uint8Array, targetOffset: number): void {
  for (let i = 0; i < 2 * HASH_SIZE; i += 1) NODE_INPUT[1 + i] = source[sourceOffset + i]!;
  digestInto(NODE_INPUT, target, targetOffset);
}

/** SHA-256 over the concatenation of `parts`, as a plain Uint8Array (not a Node Buffer). */
export function sha256(...parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length === 1) return sha256Of(parts[0]!);
  return sha256Parts(parts);
}

/** SHA-256 of one byte string, as a fresh plain Uint8Array. */
export function sha256Of(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(HASH_SIZE);
  digestInto(data, out, 0);
  return out;
}

/**
 * SHA-256 of one byte string written to `target` at `offset` (internal: the store hashes the `0x00 ‖ entry`
 * it laid out itself into one buffer of leaf hashes per call).
 */
export function sha256Into(data: Uint8Array, target: Uint8Array, offset: number): void {
  digestInto(data, target, offset);
}
