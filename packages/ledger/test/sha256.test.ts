// The two SHA-256 primitives behind `#sha256` (package.json "imports"): node:crypto on Node, @noble/hashes
// everywhere else. They must give the same bytes for every input, and the verifier must accept and refuse
// the same RFC 9162 vectors with either.
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import * as active from '#sha256';
import * as nodeImpl from '../src/sha256-node.ts';
import * as portable from '../src/sha256-portable.ts';
import { FIXTURES, fromBase64, fromHex, jsonFilesUnder, readJson, toHex } from './helpers.ts';

// Same exports, same types (a compile-time check: tsc fails if one drifts).
const implementations: ReadonlyArray<typeof portable> = [nodeImpl, portable];
void implementations;

const reference = (...parts: Uint8Array[]): Uint8Array => {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part);
  return new Uint8Array(hash.digest());
};
/** Deterministic pseudo-random bytes (xorshift), so a failure reproduces. */
const randomBytes = (length: number, seed: number): Uint8Array => {
  const out = new Uint8Array(length);
  let x = seed | 1;
  for (let i = 0; i < length; i += 1) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
};
const into = (impl: typeof portable, data: Uint8Array): Uint8Array => {
  const target = new Uint8Array(40).fill(0xaa);
  impl.sha256Into(data, target, 3);
  // Nothing outside [offset, offset + 32) is touched.
  expect([...target.subarray(0, 3), ...target.subarray(35)]).toEqual([0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa]);
  return target.slice(3, 35);
};

describe('#sha256: node:crypto and @noble/hashes agree', () => {
  it('on Node (vitest) `#sha256` is the node:crypto one, and both files export the same names', () => {
    expect(active.SHA256_IMPLEMENTATION).toBe('node:crypto');
    expect(portable.SHA256_IMPLEMENTATION).toBe('@noble/hashes');
    expect(Object.keys(nodeImpl).sort()).toEqual(Object.keys(portable).sort());
  });

  it('on fixed sizes around the block boundaries, up to 100 KB, and on views into larger buffers', () => {
    for (const length of [0, 1, 55, 56, 63, 64, 65, 119, 120, 4096, 4097, 65_537, 100_000]) {
      const data = randomBytes(length, length + 1);
      const expected = reference(data);
      expect(into(nodeImpl, data)).toEqual(expected);
      expect(into(portable, data)).toEqual(expected);
      const padded = new Uint8Array(length + 9).fill(0x55);
      padded.set(data, 4);
      expect(into(portable, padded.subarray(4, 4 + length))).toEqual(expected);
      expect(into(nodeImpl, padded.subarray(4, 4 + length))).toEqual(expected);
    }
    expect(toHex(into(portable, new Uint8Array()))).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  });

  it('property: sha256Into and sha256Parts agree on random inputs and splits', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 6 }), (parts) => {
        const expected = reference(...parts);
        expect(nodeImpl.sha256Parts(parts)).toEqual(expected);
        expect(portable.sha256Parts(parts)).toEqual(expected);
        const joined = new Uint8Array(parts.reduce((n, part) => n + part.length, 0));
        parts.reduce((offset, part) => (joined.set(part, offset), offset + part.length), 0);
        expect(into(nodeImpl, joined)).toEqual(expected);
        expect(into(portable, joined)).toEqual(expected);
      }),
      { numRuns: 500 },
    );
  });

  it('sha256Parts returns a fresh plain Uint8Array from both', () => {
    for (const impl of [nodeImpl, portable]) {
      const hash = impl.sha256Parts([new Uint8Array([1]), new Uint8Array([2])]);
      expect(Object.getPrototypeOf(hash)).toBe(Uint8Array.prototype);
      expect(hash.length).toBe(32);
    }
  });
});

describe('RFC 9162 vectors through the portable hash', () => {
  /** The verifier's own modules, evaluated afresh with `#sha256` bound to @noble/hashes (calls counted). */
  const loadPortable = async () => {
    let calls = 0;
    vi.resetModules();
    vi.doMock('#sha256', async () => {
      const noble = await import('../src/sha256-portable.ts');
      return {
        ...noble,
        sha256Into: (data: Uint8Array, target: Uint8Array, offset: number) => {
          calls += 1;
          noble.sha256Into(data, target, offset);
        },
      };
    });
    try {
      const verifier = await import('../src/verify-offline.ts');
      const tree = await import('../src/merkle-tree.ts');
      return { verifier, tree, calls: () => calls };
    } finally {
      vi.doUnmock('#sha256');
      vi.resetModules();
    }
  };

  it('accepts and refuses every inclusion and consistency vector, and rebuilds the reference roots', async () => {
    const { verifier, tree: trees, calls } = await loadPortable();
    const inclusion = jsonFilesUnder('rfc9162/inclusion');
    const consistency = jsonFilesUnder('rfc9162/consistency');
    expect(inclusion.length).toBeGreaterThan(60);
    expect(consistency.length).toBeGreaterThan(60);
    for (const file of inclusion) {
      const v = readJson(FIXTURES + file) as { leafIdx: number; treeSize: number; root: string; leafHash: string; proof: string[] | null; wantErr: boolean };
      if (!Number.isSafeInteger(v.leafIdx) || !Number.isSafeInteger(v.treeSize)) continue; // caller misuse, covered in rfc9162-vectors.test.ts
      const result = verifier.verifyInclusion({
        leafIndex: v.leafIdx,
        treeSize: v.treeSize,
        leafHash: fromBase64(v.leafHash),
        proof: (v.proof ?? []).map(fromBase64),
        root: fromBase64(v.root),
      });
      expect(result.ok, file).toBe(!v.wantErr);
    }
    for (const file of consistency) {
      const v = readJson(FIXTURES + file) as { size1: number; size2: number; root1: string; root2: string; proof: string[] | null; wantErr: boolean };
      const result = verifier.verifyConsistency({
        size1: v.size1,
        size2: v.size2,
        root1: fromBase64(v.root1),
        root2: fromBase64(v.root2),
        proof: (v.proof ?? []).map(fromBase64),
      });
      expect(result.ok, file).toBe(!v.wantErr);
    }
    const leaves = readJson(`${FIXTURES}rfc9162/leaves.json`) as { leafInputsHex: string[]; rootsBySizeHex: string[] };
    const tree = trees.createMerkleTree();
    for (const input of leaves.leafInputsHex) tree.append(verifier.leafHash(fromHex(input)));
    leaves.rootsBySizeHex.forEach((root, n) => expect(toHex(tree.root(n))).toBe(root));
    expect(toHex(verifier.EMPTY_ROOT)).toBe(leaves.rootsBySizeHex[0]);
    // The hashing above really went through @noble/hashes.
    expect(calls()).toBeGreaterThan(100);
  });
});
