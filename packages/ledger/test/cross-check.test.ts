import { describe, expect, it } from 'vitest';
import { verifyConsistency, verifyInclusion } from '../src/index.ts';
import type { ConsistencyInput, InclusionInput, ProofResult } from '../src/index.ts';
import { buildTree, consistencyShape, flipBit, inclusionShape } from './helpers.ts';

/**
 * Every proof our tree produces for every tree of 1..64 leaves verifies, and every mutation of it fails:
 * one bit flipped in each proof hash (a pseudo-random bit per hash), in the leaf hash and in each root;
 * the index or a size moved by ±1; the proof truncated, extended, or with a hash duplicated.
 *
 * About sizes: RFC 9162 binds a size to a proof only through the shape of the path. When (i, n ± 1)
 * has exactly the path shape of (i, n), the same hashes lead to the same root and no verifier can tell
 * them apart; the signed checkpoint is what binds a size to a root (bundle tests cover that). The
 * tests assert that a moved size fails unless the shapes, computed independently in helpers.ts, are
 * identical. That is common (a leaf on the left has the same path shape in every tree of the same
 * height), which is exactly why a proof must be checked against a signed (size, root) pair.
 */

const MAX_SIZE = 64;
const trees = Array.from({ length: MAX_SIZE + 1 }, (_, n) => buildTree(n, 7));
const fullTree = buildTree(MAX_SIZE, 7);

function bitFor(seed: number): number {
  return (seed * 2654435761) % 256;
}

function inclusionMutations(input: InclusionInput): Array<[string, InclusionInput]> {
  const out: Array<[string, InclusionInput]> = [];
  input.proof.forEach((hash, k) => {
    const proof = [...input.proof];
    proof[k] = flipBit(hash, bitFor(k + input.leafIndex * 31 + input.treeSize));
    out.push([`flip proof[${k}]`, { ...input, proof }]);
  });
  out.push(['flip leafHash', { ...input, leafHash: flipBit(input.leafHash, bitFor(input.treeSize)) }]);
  out.push(['flip root', { ...input, root: flipBit(input.root, bitFor(input.leafIndex + 3)) }]);
  if (input.proof.length > 0) out.push(['truncate', { ...input, proof: input.proof.slice(0, -1) }]);
  if (input.proof.length > 0) out.push(['drop first', { ...input, proof: input.proof.slice(1) }]);
  out.push(['extend', { ...input, proof: [...input.proof, input.root] }]);
  out.push(['prepend', { ...input, proof: [input.leafHash, ...input.proof] }]);
  return out;
}

function consistencyMutations(input: ConsistencyInput): Array<[string, ConsistencyInput]> {
  const out: Array<[string, ConsistencyInput]> = [];
  input.proof.forEach((hash, k) => {
    const proof = [...input.proof];
    proof[k] = flipBit(hash, bitFor(k + input.size1 * 67 + input.size2));
    out.push([`flip proof[${k}]`, { ...input, proof }]);
  });
  out.push(['flip root1', { ...input, root1: flipBit(input.root1, bitFor(input.size1)) }]);
  out.push(['flip root2', { ...input, root2: flipBit(input.root2, bitFor(input.size2)) }]);
  if (input.proof.length > 0) out.push(['truncate', { ...input, proof: input.proof.slice(0, -1) }]);
  if (input.proof.length > 0) out.push(['drop first', { ...input, proof: input.proof.slice(1) }]);
  out.push(['extend', { ...input, proof: [...input.proof, input.root2] }]);
  out.push(['prepend', { ...input, proof: [input.root1, ...input.proof] }]);
  out.push(['swap roots', { ...input, root1: input.root2, root2: input.root1 }]);
  return out;
}

function expectFailure(result: ProofResult, what: string): void {
  expect(result.ok, what).toBe(false);
}

describe('cross-check: our tree against our verifier, trees of 1..64 leaves', () => {
  it('the tree of n leaves and every prefix of the 64-leaf tree have the same root', () => {
    for (let n = 0; n <= MAX_SIZE; n += 1) {
      expect(fullTree.root(n)).toEqual(trees[n]?.root());
    }
  });

  it('every inclusion proof verifies, and every mutation of it fails', () => {
    let moved = 0;
    let indistinguishable = 0;
    for (let n = 1; n <= MAX_SIZE; n += 1) {
      const tree = trees[n];
      if (tree === undefined) throw new Error('missing tree');
      const root = tree.root();
      for (let i = 0; i < n; i += 1) {
        const input: InclusionInput = { leafIndex: i, treeSize: n, leafHash: tree.leafHash(i), proof: tree.inclusionProof(i), root };
        expect(verifyInclusion(input).ok, `valid n=${n} i=${i}`).toBe(true);
        // The same proof from the bigger tree's history gives the same answer.
        expect(fullTree.inclusionProof(i, n)).toEqual(input.proof);
        for (const [what, mutated] of inclusionMutations(input)) expectFailure(verifyInclusion(mutated), `${what} n=${n} i=${i}`);
        for (const delta of [-1, 1]) {
          const leafIndex = i + delta;
          if (leafIndex >= 0) expectFailure(verifyInclusion({ ...input, leafIndex }), `index ${leafIndex} n=${n}`);
          const treeSize = n + delta;
          if (treeSize < 0) continue;
          moved += 1;
          const result = verifyInclusion({ ...input, treeSize });
          if (inclusionShape(i, treeSize) === inclusionShape(i, n)) indistinguishable += 1;
          else expectFailure(result, `size ${treeSize} n=${n} i=${i}`);
        }
      }
    }
    // Many are indistinguishable (a left-side leaf has the same path shape in trees of similar size);
    // every one that is distinguishable failed above.
    expect(indistinguishable).toBeLessThan(moved);
  });

  it('every consistency proof verifies, and every mutation of it fails', () => {
    let moved = 0;
    let indistinguishable = 0;
    for (let n = 1; n <= MAX_SIZE; n += 1) {
      const root2 = fullTree.root(n);
      for (let m = 1; m <= n; m += 1) {
        const input: ConsistencyInput = { size1: m, size2: n, root1: fullTree.root(m), root2, proof: fullTree.consistencyProof(m, n) };
        expect(verifyConsistency(input).ok, `valid ${m}→${n}`).toBe(true);
        expect(trees[n]?.consistencyProof(m)).toEqual(input.proof);
        for (const [what, mutated] of consistencyMutations(input)) {
          if (what === 'swap roots' && m === n) continue; // equal roots: swapping changes nothing
          expectFailure(verifyConsistency(mutated), `${what} ${m}→${n}`);
        }
        for (const [size1, size2] of [
          [m - 1, n],
          [m + 1, n],
          [m, n - 1],
          [m, n + 1],
        ] as const) {
          moved += 1;
          const result = verifyConsistency({ ...input, size1, size2 });
          if (m !== n && consistencyShape(size1, size2) === consistencyShape(m, n)) indistinguishable += 1;
          else expectFailure(result, `sizes ${size1}→${size2} for proof ${m}→${n}`);
        }
      }
    }
    // Many are indistinguishable (a left-side leaf has the same path shape in trees of similar size);
    // every one that is distinguishable failed above.
    expect(indistinguishable).toBeLessThan(moved);
  });

  it('flipping each of the 256 bits of every hash fails, exhaustively, for the 13-leaf tree', () => {
    const tree = trees[13];
    if (tree === undefined) throw new Error('missing tree');
    const root = tree.root();
    for (let i = 0; i < 13; i += 1) {
      const input: InclusionInput = { leafIndex: i, treeSize: 13, leafHash: tree.leafHash(i), proof: tree.inclusionProof(i), root };
      for (let bit = 0; bit < 256; bit += 1) {
        expectFailure(verifyInclusion({ ...input, root: flipBit(root, bit) }), `root bit ${bit}`);
        expectFailure(verifyInclusion({ ...input, leafHash: flipBit(input.leafHash, bit) }), `leaf bit ${bit}`);
        input.proof.forEach((hash, k) => {
          const proof = [...input.proof];
          proof[k] = flipBit(hash, bit);
          expectFailure(verifyInclusion({ ...input, proof }), `proof[${k}] bit ${bit}`);
        });
      }
    }
    for (const m of [1, 3, 6, 8, 12]) {
      const input: ConsistencyInput = { size1: m, size2: 13, root1: tree.root(m), root2: root, proof: tree.consistencyProof(m) };
      for (let bit = 0; bit < 256; bit += 1) {
        expectFailure(verifyConsistency({ ...input, root1: flipBit(input.root1, bit) }), `root1 bit ${bit}`);
        expectFailure(verifyConsistency({ ...input, root2: flipBit(input.root2, bit) }), `root2 bit ${bit}`);
        input.proof.forEach((hash, k) => {
          const proof = [...input.proof];
          proof[k] = flipBit(hash, bit);
          expectFailure(verifyConsistency({ ...input, proof }), `proof[${k}] bit ${bit} m=${m}`);
        });
      }
    }
  });
});
