// The hashing and tree paths the store and the verifier use internally: one-shot hashing through reused
// scratch buffers, the in-place frontier, and the tree appending interior nodes the frontier already hashed.
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { appendToFrontier, frontierRoot, pushFrontier, type Frontier } from '../src/frontier.ts';
import { sha256, sha256Into, sha256Of } from '../src/merkle-hash.ts';
import { createMerkleTreeInternals } from '../src/merkle-tree.ts';
import { EMPTY_ROOT, createMerkleTree, leafHash, nodeHash } from '../src/index.ts';

const reference = (...parts: Uint8Array[]): Uint8Array => {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part);
  return new Uint8Array(hash.digest());
};
const bytes = (length: number, seed: number): Uint8Array => Uint8Array.from({ length }, (_, i) => (i * 31 + seed) & 0xff);

describe('hashes', () => {
  it('leafHash and nodeHash are SHA-256(0x00 ‖ entry) and SHA-256(0x01 ‖ left ‖ right), for entries of any size', () => {
    for (const length of [0, 1, 31, 4095, 4096, 4097, 65_535, 65_536, 65_537, 200_000]) {
      const entry = bytes(length, length);
      expect(leafHash(entry)).toEqual(reference(new Uint8Array([0]), entry));
      // A view into a larger buffer is hashed as its own bytes only.
      const padded = new Uint8Array(length + 10).fill(0x55);
      padded.set(entry, 5);
      expect(leafHash(padded.subarray(5, 5 + length))).toEqual(reference(new Uint8Array([0]), entry));
    }
    const left = bytes(32, 1);
    const right = bytes(32, 2);
    expect(nodeHash(left, right)).toEqual(reference(new Uint8Array([1]), left, right));
    expect(sha256()).toEqual(EMPTY_ROOT);
    expect(sha256(left, right)).toEqual(reference(left, right));
    expect(sha256Of(left)).toEqual(reference(left));
    const target = new Uint8Array(40).fill(9);
    sha256Into(left, target, 4);
    expect(target.subarray(4, 36)).toEqual(reference(left));
    expect([...target.subarray(0, 4), ...target.subarray(36)]).toEqual([9, 9, 9, 9, 9, 9, 9, 9]);
  });

  it('returns fresh plain Uint8Arrays: the scratch buffers are never handed out', () => {
    const first = leafHash(bytes(10, 1));
    const copy = first.slice();
    const second = leafHash(bytes(10, 2));
    const parent = nodeHash(first, second);
    nodeHash(second, first);
    expect(first).toEqual(copy);
    for (const hash of [first, second, parent, sha256Of(first), sha256(first, second)]) {
      expect(Object.getPrototypeOf(hash)).toBe(Uint8Array.prototype);
      expect(hash.length).toBe(32);
      expect(hash.buffer.byteLength).toBe(32);
    }
  });
});

describe('frontier and tree internals', () => {
  it('property: appendToFrontier matches pushFrontier, its parents are the nodes the tree caches, and appendComputed builds the tree append builds', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 1, maxLength: 12 }), (batches) => {
        const plain = createMerkleTree();
        const internals = createMerkleTreeInternals();
        let copied: Frontier = [];
        let n = 0;
        for (const count of batches) {
          // A batch: the frontier of the committed tree, extended in place; the nodes it completed go to the tree.
          const frontier = internals.frontier();
          expect(frontier).toEqual(copied);
          const leaves: Uint8Array[] = [];
          const parents: Uint8Array[] = [];
          for (let i = 0; i < count; i += 1, n += 1) {
            const leaf = leafHash(bytes(8, n));
            leaves.push(leaf);
            appendToFrontier(frontier, n, leaf, parents);
            copied = pushFrontier(copied, n, leaf);
            plain.append(leaf);
          }
          expect(frontier).toEqual(copied);
          expect(frontierRoot(frontier)).toEqual(plain.root());
          internals.appendComputed(leaves, parents);
          expect(internals.tree.size).toBe(n);
        }
        for (let size = 1; size <= n; size += 1) expect(internals.tree.root(size)).toEqual(plain.root(size));
        for (let index = 0; index < n; index += 1) {
          expect(internals.tree.leafHash(index)).toEqual(plain.leafHash(index));
          expect(internals.tree.inclusionProof(index)).toEqual(plain.inclusionProof(index));
        }
        expect(internals.tree.consistencyProof(1)).toEqual(plain.consistencyProof(1));
      }),
      { numRuns: 80 },
    );
  });

  it('frontierRoot hands out a copy, never a frontier hash', () => {
    const leaf = leafHash(bytes(4, 4));
    const frontier = [leaf];
    const root = frontierRoot(frontier);
    expect(root).toEqual(leaf);
    root[0] = (root[0] ?? 0) ^ 1;
    expect(frontier[0]).toEqual(leafHash(bytes(4, 4)));
  });

  it('appendComputed refuses a wrong number of interior nodes, or a leaf that is not 32 bytes, and leaves the tree as it was', () => {
    const internals = createMerkleTreeInternals();
    const leaves = [0, 1, 2].map((i) => leafHash(bytes(3, i)));
    const frontier: Uint8Array[] = [];
    const parents: Uint8Array[] = [];
    leaves.forEach((leaf, i) => appendToFrontier(frontier, i, leaf, parents));
    expect(parents).toHaveLength(1);
    expect(() => internals.appendComputed(leaves, [])).toThrow(TypeError);
    expect(() => internals.appendComputed(leaves, [...parents, parents[0]!])).toThrow(TypeError);
    expect(() => internals.appendComputed([...leaves, new Uint8Array(31)], parents)).toThrow(TypeError);
    expect(internals.tree.size).toBe(0);
    internals.appendComputed(leaves, parents);
    expect(internals.tree.root()).toEqual(frontierRoot(frontier));
    expect(internals.frontier()).toEqual(frontier);
  });
});
