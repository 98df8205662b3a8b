import { EMPTY_ROOT, HASH_SIZE, nodeHash, nodeHashOfPairInto } from './merkle-hash.ts';

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
  return createMerkleTreeInternals().tree;
}

/**
 * A tree and the two operations the store needs beyond {@link MerkleTree} (internal: not exported from the
 * package). The store computes a batch's root on a frontier before the batch commits and only then appends
 * the leaves to its tree; `appendComputed` takes the interior nodes the frontier already hashed, so that
 * each node of the log is hashed once, not twice.
 */
export interface MerkleTreeInternals {
  readonly tree: MerkleTree;
  /** The roots of the perfect subtrees of D[0:size], largest first (fresh copies): see frontier.ts. */
  frontier(): Uint8Array[];
  /**
   * Appends `leaves` (32-byte hashes) together with the interior nodes they complete, lowest first per
   * leaf, exactly as `appendToFrontier(…, parents)` produced them for the same leaves at the same indexes.
   * The nodes are trusted (they come from the store's own frontier); only their count is checked.
   */
  appendComputed(leaves: ReadonlyArray<Uint8Array>, parents: ReadonlyArray<Uint8Array>): void;
}

export function createMerkleTreeInternals(): MerkleTreeInternals {
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

  /** Makes room for one more hash in `level`. */
  const reserve = (level: Level): void => {
    if ((level.count + 1) * HASH_SIZE > level.bytes.length) {
      const grown = new Uint8Array(level.bytes.length * 2);
      grown.set(level.bytes);
      level.bytes = grown;
    }
  };

  const push = (level: Level, hash: Uint8Array): void => {
    reserve(level);
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
      let level = levelAt(0);
      for (let height = 1; level.count % 2 === 0; height += 1) {
        // The two children are adjacent in the level's buffer: hash them from there, straight into the next level.
        const next = levelAt(height);
        reserve(next);
        nodeHashOfPairInto(level.bytes, (level.count - 2) * HASH_SIZE, next.bytes, next.count * HASH_SIZE);
        next.count += 1;
        level = next;
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

  return {
    tree,
    frontier() {
      const roots: Uint8Array[] = [];
      let start = 0;
      for (let width = 2 ** (levels.length - 1); width >= 1; width /= 2) {
        if (size - start >= width) {
          roots.push(cached(exactLog2(width), start / width).slice());
          start += width;
        }
      }
      return roots;
    },
    appendComputed(leaves, parents) {
      // Checked before anything changes: the tree is never left half-appended.
      if (size + leaves.length > Number.MAX_SAFE_INTEGER) throw new TypeError('append: the tree is full');
      let expected = 0;
      for (let i = 0; i < leaves.length; i += 1) {
        const leaf = leaves[i];
        if (!(leaf instanceof Uint8Array) || leaf.length !== HASH_SIZE) throw new TypeError('append: leafHash must be a 32-byte Uint8Array');
        for (let bits = size + i; bits % 2 === 1; bits = (bits - 1) / 2) expected += 1;
      }
      if (expected !== parents.length || parents.some((parent) => !(parent instanceof Uint8Array) || parent.length !== HASH_SIZE)) {
        throw new TypeError(`appendComputed: the leaves complete ${expected} interior nodes, ${parents.length} were given`);
      }
      let next = 0;
      for (const leaf of leaves) {
        let level = levelAt(0);
        push(level, leaf);
        size += 1;
        for (let height = 1; level.count % 2 === 0; height += 1) {
          level = levelAt(height);
          push(level, parents[next++]!);
        }
      }
    },
  };
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
