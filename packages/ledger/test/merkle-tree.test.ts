import { describe, expect, it } from 'vitest';
import { createMerkleTree, EMPTY_ROOT, HASH_SIZE, leafHash, nodeHash } from '../src/index.ts';
import { buildTree, entryBytes, toHex } from './helpers.ts';

/** MTH straight from RFC 9162 §2.1.1, recursive and O(n): the reference the cached tree must equal. */
function referenceRoot(leaves: readonly Uint8Array[]): Uint8Array {
  if (leaves.length === 0) return EMPTY_ROOT;
  if (leaves.length === 1) return leaves[0] as Uint8Array;
  let k = 1;
  while (k * 2 < leaves.length) k *= 2;
  return nodeHash(referenceRoot(leaves.slice(0, k)), referenceRoot(leaves.slice(k)));
}

describe('merkle hashing (RFC 9162 §2.1.1)', () => {
  it('leafHash is SHA-256(0x00 ‖ entry) and nodeHash is SHA-256(0x01 ‖ left ‖ right)', () => {
    // RFC 6962 reference roots (fixtures/rfc9162/leaves.json): the tree of [""] and of ["", 0x00].
    expect(toHex(leafHash(new Uint8Array()))).toBe('6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d');
    const node = nodeHash(leafHash(new Uint8Array()), leafHash(new Uint8Array([0x00])));
    expect(toHex(node)).toBe('fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125');
    expect(leafHash(new Uint8Array([1, 2, 3]))).toHaveLength(HASH_SIZE);
  });

  it('a leaf and a node over the same bytes hash differently (domain separation)', () => {
    const a = leafHash(entryBytes(1, 0));
    const b = leafHash(entryBytes(1, 1));
    const concatenated = new Uint8Array([...a, ...b]);
    expect(toHex(leafHash(concatenated))).not.toBe(toHex(nodeHash(a, b)));
  });

  it('refuses misuse: nodeHash with a child that is not 32 bytes, leafHash of a non-Uint8Array', () => {
    const ok = leafHash(new Uint8Array());
    expect(() => nodeHash(ok, new Uint8Array(31))).toThrow(TypeError);
    expect(() => nodeHash(new Uint8Array(33), ok)).toThrow(TypeError);
    expect(() => leafHash('entry' as unknown as Uint8Array)).toThrow(TypeError);
  });
});

describe('createMerkleTree', () => {
  it('has the empty root at size 0, and returns copies the caller cannot corrupt', () => {
    const tree = createMerkleTree();
    expect(tree.size).toBe(0);
    const root = tree.root();
    expect(root).toEqual(EMPTY_ROOT);
    root.fill(0);
    expect(tree.root()).toEqual(EMPTY_ROOT);
    tree.append(leafHash(entryBytes(1, 0)));
    tree.leafHash(0).fill(0);
    expect(tree.leafHash(0)).toEqual(leafHash(entryBytes(1, 0)));
  });

  it('never accepts a leaf hash that is not 32 bytes (a raw entry passed by mistake)', () => {
    const tree = createMerkleTree();
    for (const bad of [new Uint8Array(0), new Uint8Array(31), new Uint8Array(33), new Uint8Array(64)]) {
      expect(() => tree.append(bad)).toThrow(TypeError);
    }
    expect(() => tree.append([...new Uint8Array(32)] as unknown as Uint8Array)).toThrow(TypeError);
    expect(tree.size).toBe(0);
  });

  it('append returns consecutive indexes', () => {
    const tree = createMerkleTree();
    expect(tree.append(leafHash(entryBytes(2, 0)))).toBe(0);
    expect(tree.append(leafHash(entryBytes(2, 1)))).toBe(1);
    expect(tree.size).toBe(2);
  });

  it('the root of every prefix equals the O(n) reference MTH, across buffer growth (3000 leaves)', () => {
    const tree = buildTree(3000, 5);
    const leaves = Array.from({ length: 3000 }, (_, i) => tree.leafHash(i));
    for (const n of [0, 1, 2, 3, 4, 5, 7, 8, 9, 100, 1023, 1024, 1025, 2047, 2048, 2049, 2999, 3000]) {
      expect(toHex(tree.root(n)), `n=${n}`).toBe(toHex(referenceRoot(leaves.slice(0, n))));
    }
  });

  it('refuses out-of-range sizes and indexes with TypeError', () => {
    const tree = buildTree(5);
    expect(() => tree.root(6)).toThrow(TypeError);
    expect(() => tree.root(-1)).toThrow(TypeError);
    expect(() => tree.root(1.5)).toThrow(TypeError);
    expect(() => tree.leafHash(5)).toThrow(TypeError);
    expect(() => tree.inclusionProof(5, 5)).toThrow(TypeError);
    expect(() => tree.inclusionProof(0, 6)).toThrow(TypeError);
    expect(() => tree.inclusionProof(0, 0)).toThrow(TypeError);
    expect(() => tree.consistencyProof(0, 5)).toThrow(TypeError);
    expect(() => tree.consistencyProof(4, 3)).toThrow(TypeError);
    expect(() => tree.consistencyProof(1, 6)).toThrow(TypeError);
  });

  it('gives empty proofs where the RFC does: one-leaf inclusion, equal-size consistency', () => {
    const tree = buildTree(5);
    expect(tree.inclusionProof(0, 1)).toEqual([]);
    expect(tree.consistencyProof(3, 3)).toEqual([]);
    expect(tree.consistencyProof(5)).toEqual([]);
  });
});
