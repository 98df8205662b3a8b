import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { verifyConsistency, verifyInclusion } from '../src/index.ts';
import type { ConsistencyInput, InclusionInput } from '../src/index.ts';
import { buildTree, flipBit } from './helpers.ts';

/** A random log, two sizes 1 ≤ m ≤ n ≤ 300 and a seed for the log's contents. */
const sizes = fc
  .record({ n: fc.integer({ min: 1, max: 300 }), seed: fc.integer({ min: 0, max: 1_000_000 }) })
  .chain(({ n, seed }) => fc.record({ n: fc.constant(n), seed: fc.constant(seed), m: fc.integer({ min: 1, max: n }) }));

/** One way to tamper with a proof: which hash (by position, modulo length) and which bit, or a structural change. */
const tamper = fc.oneof(
  fc.record({ kind: fc.constant('flip-proof' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('flip-root' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat(), bit: fc.constant(0) }),
  fc.record({ kind: fc.constant('extend' as const), at: fc.nat(), bit: fc.constant(0) }),
  fc.record({ kind: fc.constant('replace' as const), at: fc.nat(), bit: fc.constant(0) }),
);

type Tamper = typeof tamper extends fc.Arbitrary<infer T> ? T : never;

function tamperProof(proof: readonly Uint8Array[], change: Tamper, filler: Uint8Array): Uint8Array[] | undefined {
  const copy = [...proof];
  const at = proof.length === 0 ? 0 : change.at % proof.length;
  const hash = copy[at];
  switch (change.kind) {
    case 'flip-proof':
      if (hash === undefined) return undefined;
      copy[at] = flipBit(hash, change.bit);
      return copy;
    case 'truncate':
      if (hash === undefined) return undefined;
      copy.splice(at, 1);
      return copy;
    case 'extend':
      copy.splice(at, 0, filler);
      return copy;
    case 'replace':
      if (hash === undefined) return undefined;
      copy[at] = filler;
      return copy;
    case 'flip-root':
      return undefined;
  }
}

describe('properties (fast-check)', () => {
  it('for random logs and m ≤ n, the consistency proof verifies', () => {
    fc.assert(
      fc.property(sizes, ({ n, m, seed }) => {
        const tree = buildTree(n, seed);
        const result = verifyConsistency({ size1: m, size2: n, root1: tree.root(m), root2: tree.root(), proof: tree.consistencyProof(m) });
        expect(result).toEqual({ ok: true });
      }),
      { numRuns: 150 },
    );
  });

  it('any tampered consistency proof (or root) fails', () => {
    fc.assert(
      fc.property(sizes, tamper, ({ n, m, seed }, change) => {
        const tree = buildTree(n, seed);
        const input: ConsistencyInput = { size1: m, size2: n, root1: tree.root(m), root2: tree.root(), proof: tree.consistencyProof(m) };
        const filler = tree.leafHash(0);
        if (change.kind === 'flip-root') {
          const which = change.at % 2 === 0 ? 'root1' : 'root2';
          expect(verifyConsistency({ ...input, [which]: flipBit(input[which], change.bit) }).ok).toBe(false);
          return;
        }
        const proof = tamperProof(input.proof, change, filler);
        fc.pre(proof !== undefined);
        if (proof === undefined) return;
        expect(verifyConsistency({ ...input, proof }).ok).toBe(false);
      }),
      { numRuns: 300 },
    );
  });

  it('for random logs, every leaf’s inclusion proof in any prefix verifies', () => {
    fc.assert(
      fc.property(sizes, fc.nat(), ({ n, m, seed }, pick) => {
        const tree = buildTree(n, seed);
        const index = pick % m;
        const result = verifyInclusion({ leafIndex: index, treeSize: m, leafHash: tree.leafHash(index), proof: tree.inclusionProof(index, m), root: tree.root(m) });
        expect(result).toEqual({ ok: true });
      }),
      { numRuns: 150 },
    );
  });

  it('any tampered inclusion proof (or root, or leaf) fails', () => {
    fc.assert(
      fc.property(sizes, fc.nat(), tamper, ({ n, m, seed }, pick, change) => {
        const tree = buildTree(n, seed);
        const index = pick % m;
        const input: InclusionInput = { leafIndex: index, treeSize: m, leafHash: tree.leafHash(index), proof: tree.inclusionProof(index, m), root: tree.root(m) };
        if (change.kind === 'flip-root') {
          const which = change.at % 2 === 0 ? 'root' : 'leafHash';
          expect(verifyInclusion({ ...input, [which]: flipBit(input[which], change.bit) }).ok).toBe(false);
          return;
        }
        // A filler that is not the hash being replaced: another leaf's hash, or a fixed pattern.
        const other = tree.leafHash((index + 1) % n);
        const filler = other.every((byte, k) => byte === input.leafHash[k]) ? new Uint8Array(32).fill(7) : other;
        const proof = tamperProof(input.proof, change, filler);
        fc.pre(proof !== undefined);
        if (proof === undefined) return;
        if (change.kind === 'replace' && proof.every((hash, k) => hash.every((byte, j) => byte === input.proof[k]?.[j]))) return;
        expect(verifyInclusion({ ...input, proof }).ok).toBe(false);
      }),
      { numRuns: 300 },
    );
  });
});
