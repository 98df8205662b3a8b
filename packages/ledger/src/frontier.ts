import { EMPTY_ROOT, nodeHash } from './merkle-hash.ts';

/**
 * The compact form of an RFC 9162 tree of `n` leaves: the roots of its perfect subtrees, largest first
 * (one per 1-bit of n). O(log n) hashes are enough to append and to compute MTH(D[0:n]); the store uses it
 * to compute a batch's root before the batch commits (without touching its tree, which only holds
 * committed leaves) and the verifier uses it to audit a log of any size in constant memory.
 */
export type Frontier = readonly Uint8Array[];

/**
 * The frontier after appending leaf hash `leaf` as leaf number `index` (= the old frontier's leaf count).
 * Returns a new array; the old one stays valid.
 *
 * @example
 * ```ts
 * let frontier: Frontier = [];
 * leaves.forEach((leaf, i) => { frontier = pushFrontier(frontier, i, leaf); });
 * frontierRoot(frontier); // equals createMerkleTree() fed the same leaves, .root()
 * ```
 */
export function pushFrontier(frontier: Frontier, index: number, leaf: Uint8Array): Uint8Array[] {
  const next = frontier.slice();
  appendToFrontier(next, index, leaf);
  return next;
}

/**
 * {@link pushFrontier} in place, for hot loops (the store's batches, the verifier): `frontier` is changed,
 * and each interior node the append completes is also pushed to `parents` when given, lowest first (the
 * same nodes, in the same order, that the RFC 9162 tree caches when it appends this leaf).
 */
export function appendToFrontier(frontier: Uint8Array[], index: number, leaf: Uint8Array, parents?: Uint8Array[]): void {
  let hash = leaf;
  // Each trailing 1-bit of the index is a complete left sibling that merges with the new node.
  for (let bits = index; bits % 2 === 1; bits = (bits - 1) / 2) {
    hash = nodeHash(frontier.pop()!, hash);
    parents?.push(hash);
  }
  frontier.push(hash);
}

/**
 * MTH of the frontier's leaves: RFC 9162 splits at the largest power of two, so the root folds the
 * perfect subtrees from the smallest: node(P1, node(P2, … node(Pk−1, Pk))).
 */
export function frontierRoot(frontier: Frontier): Uint8Array {
  if (frontier.length === 0) return EMPTY_ROOT.slice();
  // A fresh array even for one perfect subtree: the root is handed out, the frontier's hashes are not.
  if (frontier.length === 1) return new Uint8Array(frontier[0]!);
  let root = frontier[frontier.length - 1]!;
  for (let i = frontier.length - 2; i >= 0; i -= 1) root = nodeHash(frontier[i]!, root);
  return root;
}
