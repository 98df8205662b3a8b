import { EMPTY_ROOT, HASH_SIZE, nodeHash } from './merkle-hash.ts';

/**
 * An in-memory, append-only RFC 9162 Merkle tree over leaf hashes (the entries themselves live in the
 * store; the tree sees only SHA-256(0x00 ‖ entry)).
 *
 * Every read takes a `size` so that the same tree answers for any earlier checkpoint: `root(n)` is
 * MTH(D[0:n]), `inclusionProof(m, n)` is PATH(m, D[0:n]) and `consistencyProof(m, n)` is PROOF(m, D[0:n])
 * exactly as RFC 9162 §2.1.1, §2.1.3.1 and §2.1.4.1 define them. Returned bytes are fresh copies.
 */
export interface MerkleTree {
  /** The number of leaves appended so far. */
  readonly size: number;
  /**
   * Appends one 32-byte leaf hash and returns its index. Anything that is not a 32-byte `Uint8Array`
   * throws `TypeError`: a raw entry passed by mistake must not become a leaf.
   */
  append(leafHash: Uint8Array): number;
  /** The leaf hash at `index` (< size). */
  leafHash(index: number): Uint8Array;
  /** MTH(D[0:treeSize]); `treeSize` defaults to the current size; `root(0)` is SHA-256(""). */
  root(treeSize?: number): Uint8Array;
  /** PATH(leafIndex, D[0:treeSize]), leaf to root; requires leafIndex < treeSize ≤ size. */
  inclusionProof(leafIndex: number, treeSize?: number): Uint8Array[];
  /**
   * PROOF(size1, D[0:size2]); requires 0 < size1 ≤ size2 ≤ size (empty when size1 = size2). A proof
   * from the empty tree proves nothing, so size1 = 0 is refused (the verifier refuses it too).
   */
  consistencyProof(size1: number, size2?: number): Uint8Array[];
}

const INITIAL_CAPACITY = 1024;

/**
 * One level of cached perfect subtrees: hash `i` at level `h` is MTH(D[i·2^h : (i+1)·2^h]). Hashes are
 * packed in one growable buffer (one allocation per doubling, not one object per leaf), which keeps a
 * million-leaf tree at about 64 MB and makes appends cheap.
 */
interface Level {
  bytes: Uint8Array;
  count: number;
}

/**
 * Creates an empty tree.
 *
 * Level 0 holds the leaf hashes; level h holds every complete, aligned subtree of 2^h leaves, computed
 * once when its last leaf arrives. Every subtree the RFC recursion visits from the root is aligned, so a
 * root or a proof costs O(log n) hash operations on cached subtrees, never O(n). About two hashes per
 * leaf in total are stored.
 *
 * @example
 * ```ts
 * const tree = createMerkleTree();
 * for (const entry of entries) tree.append(leafHash(entry));
 * const root = tree.root();
 * const proof = tree.inclusionProof(3, tree.size);
 * verifyInclusion({ leafIndex: 3, treeSize: tree.size, leafHash: tree.leafHash(3), proof, root }); // { ok: true }
 * ```
 */
export function createMerkleTree(): MerkleTree {
  const levels: Level[] = [];
  let size = 0;

  const levelAt = (height: number): Level => {
    let level = levels[height];
    if (level === undefined) {
      level = { bytes: new Uint8Array(INITIAL_CAPACITY * HASH_SIZE), count: 0 };
      levels[height] = level;
    }
    return level;
  };

  const push = (level: Level, hash: Uint8Array): void => {
    const end = (level.count + 1) * HASH_SIZE;
    if (end > level.bytes.length) {
      const grown = new Uint8Array(level.bytes.length * 2);
      grown.set(level.bytes);
      level.bytes = grown;
    }
    level.bytes.set(hash, level.count * HASH_SIZE);
    level.count += 1;
  };

  /** A view (not a copy) of cached hash `index` at `height`. */
  const cached = (height: number, index: number): Uint8Array => {
    const level = levels[height];
    if (level === undefined || index >= level.count) throw new Error('merkle tree: missing cached subtree');
    return level.bytes.subarray(index * HASH_SIZE, (index + 1) * HASH_SIZE);
  };

  /** MTH(D[start : start+count]) for count ≥ 1 and start+count ≤ size. */
  const subtreeHash = (start: number, count: number): Uint8Array => {
    const height = exactLog2(count);
    if (height >= 0 && start % count === 0) return cached(height, start / count);
    const k = largestPowerOfTwoBelow(count);
    return nodeHash(subtreeHash(start, k), subtreeHash(start + k, count - k));
  };

  const checkSize = (what: string, value: number, max: number, min: number): void => {
    if (!Number.isSafeInteger(value) || value < min || value > max) {
      throw new TypeError(`${what} must be an integer in [${min}, ${max}]`);
    }
  };

  const tree: MerkleTree = {
    get size() {
      return size;
    },

    append(leafHash) {
      if (!(leafHash instanceof Uint8Array) || leafHash.length !== HASH_SIZE) {
        throw new TypeError('append: leafHash must be a 32-byte Uint8Array');
      }
      if (size >= Number.MAX_SAFE_INTEGER) throw new TypeError('append: the tree is full');
      const index = size;
      push(levelAt(0), leafHash);
      size += 1;
      // Close every perfect subtree this leaf completes: at height h, a pair is complete when the
      // level's count becomes even.
      let height = 0;
      let level = levelAt(0);
      while (level.count % 2 === 0) {
        const right = level.count - 1;
        const parent = nodeHash(cached(height, right - 1), cached(height, right));
        height += 1;
        level = levelAt(height);
        push(level, parent);
      }
      return index;
    },

    leafHash(index) {
      checkSize('leafHash: index', index, size - 1, 0);
      return cached(0, index).slice();
    },

    root(treeSize = size) {
      checkSize('root: treeSize', treeSize, size, 0);
      if (treeSize === 0) return EMPTY_ROOT_COPY.slice();
      return subtreeHash(0, treeSize).slice();
    },

    inclusionProof(leafIndex, treeSize = size) {
      checkSize('inclusionProof: treeSize', treeSize, size, 1);
      checkSize('inclusionProof: leafIndex', leafIndex, treeSize - 1, 0);
      // RFC 9162 §2.1.3.1, unrolled: PATH(m, D[n]) = PATH(m, D[0:k]) : MTH(D[k:n]) when m < k, else
      // PATH(m - k, D[k:n]) : MTH(D[0:k]). We walk root to leaf and reverse at the end.
      const path: Uint8Array[] = [];
      let m = leafIndex;
      let start = 0;
      let n = treeSize;
      while (n > 1) {
        const k = largestPowerOfTwoBelow(n);
        if (m < k) {
          path.push(subtreeHash(start + k, n - k).slice());
          n = k;
        } else {
          path.push(subtreeHash(start, k).slice());
          m -= k;
          start += k;
          n -= k;
        }
      }
      return path.reverse();
    },

    consistencyProof(size1, size2 = size) {
      checkSize('consistencyProof: size2', size2, size, 1);
      checkSize('consistencyProof: size1', size1, size2, 1);
      // RFC 9162 §2.1.4.1, unrolled: SUBPROOF(m, D[n], b) = SUBPROOF(m, D[0:k], b) : MTH(D[k:n]) when
      // m ≤ k, else SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k]); SUBPROOF(m, D[m], true) = {} and
      // SUBPROOF(m, D[m], false) = {MTH(D[m])}.
      const proof: Uint8Array[] = [];
      let m = size1;
      let start = 0;
      let n = size2;
      let isOriginalTree = true;
      while (m !== n) {
        const k = largestPowerOfTwoBelow(n);
        if (m <= k) {
          proof.push(subtreeHash(start + k, n - k).slice());
          n = k;
        } else {
          proof.push(subtreeHash(start, k).slice());
          m -= k;
          start += k;
          n -= k;
          isOriginalTree = false;
        }
      }
      if (!isOriginalTree) proof.push(subtreeHash(start, n).slice());
      return proof.reverse();
    },
  };
  return tree;
}

const EMPTY_ROOT_COPY = EMPTY_ROOT.slice();

/** h when n = 2^h, else -1. Plain arithmetic: bit operators are 32-bit and Math.log2 rounds. */
function exactLog2(n: number): number {
  let height = 0;
  let power = 1;
  while (power < n) {
    power *= 2;
    height += 1;
  }
  return power === n ? height : -1;
}

/** The largest power of two strictly smaller than n (n ≥ 2): the RFC's k. */
function largestPowerOfTwoBelow(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}
