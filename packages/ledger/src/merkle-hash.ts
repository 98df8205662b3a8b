import { createHash } from 'node:crypto';

/** The size in bytes of every hash in the ledger: SHA-256. */
export const HASH_SIZE = 32;

const LEAF_PREFIX = new Uint8Array([0x00]);
const NODE_PREFIX = new Uint8Array([0x01]);

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
  return sha256(LEAF_PREFIX, entry);
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
  return sha256(NODE_PREFIX, left, right);
}

/** SHA-256 over the concatenation of `parts`, as a plain Uint8Array (not a Node Buffer). */
export function sha256(...parts: readonly Uint8Array[]): Uint8Array {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part);
  return new Uint8Array(hash.digest());
}
