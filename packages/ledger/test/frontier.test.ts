import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { frontierRoot, pushFrontier, type Frontier } from '../src/frontier.ts';
import { EMPTY_ROOT, createMerkleTree, leafHash } from '../src/index.ts';

describe('frontier', () => {
  it('the empty frontier has the empty root', () => {
    expect(frontierRoot([])).toEqual(EMPTY_ROOT);
  });

  it('property: after every append, the frontier root equals the RFC 9162 tree root', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 8 }), { maxLength: 140 }), (entries) => {
        const tree = createMerkleTree();
        let frontier: Frontier = [];
        entries.forEach((entry, index) => {
          const leaf = leafHash(entry);
          tree.append(leaf);
          const before = frontier;
          frontier = pushFrontier(frontier, index, leaf);
          expect(frontier.length).toBe((index + 1).toString(2).replace(/0/g, '').length);
          expect(frontierRoot(frontier)).toEqual(tree.root());
          // The old frontier is untouched: a failed batch can fall back to it.
          expect(frontierRoot(before)).toEqual(tree.root(index));
        });
      }),
      { numRuns: 60 },
    );
  });
});
