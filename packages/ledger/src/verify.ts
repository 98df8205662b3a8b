import { failure, toLedgerError } from './errors.ts';
import type { LedgerFailure, ProofErrorCode } from './errors.ts';
import { HASH_SIZE, nodeHash } from './merkle-hash.ts';

/**
 * This file is the security boundary of the ledger: whatever it accepts, every auditor believes.
 * (immudb once accepted forged proofs because its client-side verifier was wrong.) It follows the
 * RFC 9162 algorithms step by step, and additionally checks the exact proof length the sizes dictate
 * before hashing anything, so a proof that is too short or too long is refused on its own, not only
 * because the arithmetic happens to end elsewhere.
 *
 * Hostile input (lengths, sizes, hashes that come from a proof or a checkpoint) yields a failure
 * record; caller misuse (a size that is not a non-negative safe integer, a hash that is not a
 * Uint8Array) throws TypeError. Sizes are plain numbers up to 2^53 − 1: the arithmetic below uses
 * `% 2` and `Math.floor(x / 2)` rather than 32-bit bit operators.
 */

/** The outcome of a proof verification: success, or a failure as data. */
export type ProofResult = { readonly ok: true } | LedgerFailure<ProofErrorCode>;

/** What {@link verifyInclusion} checks: that `leafHash` is leaf `leafIndex` of the tree of `treeSize` leaves whose root is `root`. */
export interface InclusionInput {
  readonly leafIndex: number;
  readonly treeSize: number;
  readonly leafHash: Uint8Array;
  readonly proof: readonly Uint8Array[];
  readonly root: Uint8Array;
}

/** What {@link verifyConsistency} checks: that the tree of `size2` leaves with `root2` extends the tree of `size1` leaves with `root1`. */
export interface ConsistencyInput {
  readonly size1: number;
  readonly size2: number;
  readonly root1: Uint8Array;
  readonly root2: Uint8Array;
  readonly proof: readonly Uint8Array[];
}

const OK: ProofResult = Object.freeze({ ok: true as const });

/**
 * Verifies an inclusion proof, RFC 9162 §2.1.3.2.
 *
 * @example
 * ```ts
 * const result = verifyInclusion({ leafIndex: 3, treeSize: 8, leafHash: leafHash(entry), proof, root });
 * if (!result.ok) throw new Error(result.code); // e.g. ERR_LEDGER_PROOF_ROOT_MISMATCH
 * ```
 */
export function verifyInclusion(input: InclusionInput): ProofResult {
  const { leafIndex, treeSize, leafHash, proof, root } = input;
  checkCount('leafIndex', leafIndex);
  checkCount('treeSize', treeSize);
  checkBytes('leafHash', leafHash);
  checkBytes('root', root);
  checkProofArray(proof);

  // Step 1: the index must lie inside the tree.
  if (leafIndex >= treeSize) {
    return failure('ERR_LEDGER_PROOF_INDEX_OUT_OF_RANGE', 'leafIndex must be smaller than treeSize');
  }
  const lengths = checkHashLengths(proof, [
    ['leafHash', leafHash],
    ['root', root],
  ]);
  if (lengths !== undefined) return lengths;
  const expected = inclusionProofLength(leafIndex, treeSize);
  if (proof.length !== expected) {
    return failure('ERR_LEDGER_PROOF_LENGTH', `proof must hold ${expected} hashes, not ${proof.length}`);
  }

  // Steps 2–4.
  let fn = leafIndex;
  let sn = treeSize - 1;
  let r = leafHash;
  for (const p of proof) {
    if (sn === 0) return failure('ERR_LEDGER_PROOF_LENGTH', 'proof is longer than the path to the root');
    if (isOdd(fn) || fn === sn) {
      r = nodeHash(p, r);
      // "If LSB(fn) is not set, right-shift both fn and sn equally until either LSB(fn) is set or fn is 0."
      while (!isOdd(fn) && fn !== 0) {
        fn = half(fn);
        sn = half(sn);
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = half(fn);
    sn = half(sn);
  }
  // Step 5.
  if (sn !== 0) return failure('ERR_LEDGER_PROOF_LENGTH', 'proof is shorter than the path to the root');
  if (!bytesEqual(r, root)) return failure('ERR_LEDGER_PROOF_ROOT_MISMATCH', 'the proof does not lead to root');
  return OK;
}

/**
 * Verifies a consistency proof, RFC 9162 §2.1.4.2.
 *
 * size1 = size2 verifies only with an empty proof and equal roots (compared byte for byte, as
 * transparency-dev/merkle does: its vector "sizes are equal (one) and proof is empty" accepts two equal
 * 12-byte roots; equal roots cannot help an attacker). size1 = 0 is refused even with an empty proof:
 * every tree extends the empty one, so the check proves nothing (the same vectors require this).
 *
 * @example
 * ```ts
 * const result = verifyConsistency({ size1: old.size, size2: latest.size, root1: old.root, root2: latest.root, proof });
 * if (!result.ok) alarm('the log forked', result.code);
 * ```
 */
export function verifyConsistency(input: ConsistencyInput): ProofResult {
  const { size1, size2, root1, root2, proof } = input;
  checkCount('size1', size1);
  checkCount('size2', size2);
  checkBytes('root1', root1);
  checkBytes('root2', root2);
  checkProofArray(proof);

  if (size1 > size2) return failure('ERR_LEDGER_PROOF_SIZE_ORDER', 'size1 must not exceed size2');
  if (size1 === 0) return failure('ERR_LEDGER_PROOF_EMPTY_TREE', 'size1 must be positive');
  if (size1 === size2) {
    if (proof.length !== 0) return failure('ERR_LEDGER_PROOF_LENGTH', 'proof must be empty when size1 equals size2');
    if (!bytesEqual(root1, root2)) return failure('ERR_LEDGER_PROOF_ROOT_MISMATCH', 'root1 and root2 differ for equal sizes');
    return OK;
  }
  const lengths = checkHashLengths(proof, [
    ['root1', root1],
    ['root2', root2],
  ]);
  if (lengths !== undefined) return lengths;
  const expected = consistencyProofLength(size1, size2);
  if (proof.length !== expected) {
    return failure('ERR_LEDGER_PROOF_LENGTH', `proof must hold ${expected} hashes, not ${proof.length}`);
  }

  // Steps 1–2: a power-of-two first tree is itself a node of the second: its root seeds the path.
  const path = isPowerOfTwo(size1) ? [root1, ...proof] : [...proof];
  const [seed, ...rest] = path;
  if (seed === undefined) return failure('ERR_LEDGER_PROOF_LENGTH', 'proof must not be empty');
  // Steps 3–4.
  let fn = size1 - 1;
  let sn = size2 - 1;
  while (isOdd(fn)) {
    fn = half(fn);
    sn = half(sn);
  }
  // Step 5.
  let fr = seed;
  let sr = seed;
  // Step 6.
  for (const c of rest) {
    if (sn === 0) return failure('ERR_LEDGER_PROOF_LENGTH', 'proof is longer than the path to root2');
    if (isOdd(fn) || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      while (!isOdd(fn) && fn !== 0) {
        fn = half(fn);
        sn = half(sn);
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn = half(fn);
    sn = half(sn);
  }
  // Step 7.
  if (sn !== 0) return failure('ERR_LEDGER_PROOF_LENGTH', 'proof is shorter than the path to root2');
  if (!bytesEqual(fr, root1)) return failure('ERR_LEDGER_PROOF_ROOT_MISMATCH', 'the proof does not lead to root1');
  if (!bytesEqual(sr, root2)) return failure('ERR_LEDGER_PROOF_ROOT_MISMATCH', 'the proof does not lead to root2');
  return OK;
}

/**
 * {@link verifyInclusion}, throwing a `ProofError` on failure.
 *
 * @example
 * ```ts
 * assertInclusion({ leafIndex: 8, treeSize: 8, leafHash, proof, root }); // throws ProofError ERR_LEDGER_PROOF_INDEX_OUT_OF_RANGE
 * ```
 */
export function assertInclusion(input: InclusionInput): void {
  const result = verifyInclusion(input);
  if (!result.ok) throw toLedgerError(result);
}

/**
 * {@link verifyConsistency}, throwing a `ProofError` on failure.
 *
 * @example
 * ```ts
 * assertConsistency({ size1: 4, size2: 4, root1, root2: root1, proof: [extra] }); // throws ProofError ERR_LEDGER_PROOF_LENGTH
 * ```
 */
export function assertConsistency(input: ConsistencyInput): void {
  const result = verifyConsistency(input);
  if (!result.ok) throw toLedgerError(result);
}

/**
 * The number of hashes in PATH(leafIndex, D[0:treeSize]): the iterations of §2.1.3.2 step 4 until sn
 * reaches 0, which depend on the sizes only.
 *
 * @example
 * ```ts
 * inclusionProofLength(5, 13); // 4
 * ```
 */
export function inclusionProofLength(leafIndex: number, treeSize: number): number {
  let fn = leafIndex;
  let sn = treeSize - 1;
  let length = 0;
  while (sn !== 0) {
    if (!isOdd(fn) && fn === sn) {
      while (!isOdd(fn) && fn !== 0) {
        fn = half(fn);
        sn = half(sn);
      }
    }
    fn = half(fn);
    sn = half(sn);
    length += 1;
  }
  return length;
}

/**
 * The number of hashes in PROOF(size1, D[0:size2]) for 0 < size1 < size2, by the same walk as §2.1.4.2.
 *
 * @example
 * ```ts
 * consistencyProofLength(4, 8); // 1 (the root of the 4-leaf tree is itself a node of the 8-leaf tree)
 * ```
 */
export function consistencyProofLength(size1: number, size2: number): number {
  let fn = size1 - 1;
  let sn = size2 - 1;
  while (isOdd(fn)) {
    fn = half(fn);
    sn = half(sn);
  }
  let steps = 0;
  while (sn !== 0) {
    if (!isOdd(fn) && fn === sn) {
      while (!isOdd(fn) && fn !== 0) {
        fn = half(fn);
        sn = half(sn);
      }
    }
    fn = half(fn);
    sn = half(sn);
    steps += 1;
  }
  return steps + (isPowerOfTwo(size1) ? 0 : 1);
}

function checkCount(field: string, value: unknown): asserts value is number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new TypeError(`${field} must be a non-negative safe integer`);
  }
}

function checkBytes(field: string, value: unknown): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array)) throw new TypeError(`${field} must be a Uint8Array`);
}

function checkProofArray(proof: unknown): asserts proof is readonly Uint8Array[] {
  if (!Array.isArray(proof)) throw new TypeError('proof must be an array of Uint8Array');
  for (const hash of proof) {
    if (!(hash instanceof Uint8Array)) throw new TypeError('proof must be an array of Uint8Array');
  }
}

function checkHashLengths(
  proof: readonly Uint8Array[],
  named: ReadonlyArray<readonly [string, Uint8Array]>,
): LedgerFailure<ProofErrorCode> | undefined {
  for (const [field, hash] of named) {
    if (hash.length !== HASH_SIZE) return failure('ERR_LEDGER_PROOF_HASH_LENGTH', `${field} must be ${HASH_SIZE} bytes`);
  }
  for (const [index, hash] of proof.entries()) {
    if (hash.length !== HASH_SIZE) return failure('ERR_LEDGER_PROOF_HASH_LENGTH', `proof[${index}] must be ${HASH_SIZE} bytes`);
  }
  return undefined;
}

function isOdd(n: number): boolean {
  return n % 2 === 1;
}

function half(n: number): number {
  return Math.floor(n / 2);
}

function isPowerOfTwo(n: number): boolean {
  let power = 1;
  while (power < n) power *= 2;
  return power === n;
}

/** Byte equality. Roots and proofs are public values, so constant time buys nothing here. */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i += 1) if (a[i] !== b[i]) return false;
  return true;
}
