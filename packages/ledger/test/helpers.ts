import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createHash } from 'node:crypto';
import { createMerkleTree, leafHash } from '../src/index.ts';
import type { MerkleTree } from '../src/index.ts';

/** The package's own fixtures folder: tests read nothing outside it. */
export const FIXTURES = fileURLToPath(new URL('./fixtures/', import.meta.url));

export function readJson(path: string): unknown {
  return JSON.parse(readFileSync(path, 'utf8'));
}

/** Every `.json` file under `dir`, recursively, sorted, as paths relative to FIXTURES. */
export function jsonFilesUnder(dir: string): string[] {
  const out: string[] = [];
  const walk = (absolute: string): void => {
    for (const name of readdirSync(absolute).sort()) {
      const child = join(absolute, name);
      if (statSync(child).isDirectory()) walk(child);
      else if (name.endsWith('.json')) out.push(child.slice(FIXTURES.length));
    }
  };
  walk(join(FIXTURES, dir));
  return out;
}

export function fromBase64(text: string): Uint8Array {
  return new Uint8Array(Buffer.from(text, 'base64'));
}

export function fromHex(text: string): Uint8Array {
  return new Uint8Array(Buffer.from(text, 'hex'));
}

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

/** Deterministic pseudo-random entry bytes: the same seed gives the same log on every run. */
export function entryBytes(seed: number, index: number): Uint8Array {
  return new Uint8Array(createHash('sha256').update(`covenant-ledger-test:${seed}:${index}`).digest());
}

/** A tree of `size` deterministic leaves. */
export function buildTree(size: number, seed = 1): MerkleTree {
  const tree = createMerkleTree();
  for (let i = 0; i < size; i += 1) tree.append(leafHash(entryBytes(seed, i)));
  return tree;
}

/** A copy of `bytes` with bit `bit` flipped. */
export function flipBit(bytes: Uint8Array, bit: number): Uint8Array {
  const copy = bytes.slice();
  const index = Math.floor(bit / 8);
  copy[index] = (copy[index] ?? 0) ^ (1 << (bit % 8));
  return copy;
}

const half = (n: number): number => Math.floor(n / 2);
const odd = (n: number): boolean => n % 2 === 1;

/**
 * The combination pattern RFC 9162 §2.1.3.2 applies for (index, size): which side each proof hash goes.
 * Two (index, size) pairs with the same pattern hash the same proof to the same root, so a proof cannot
 * tell them apart; only the signed checkpoint binds a size to a root. Written independently of src/.
 */
export function inclusionShape(index: number, size: number): string {
  if (index >= size) return 'out-of-range';
  let fn = index;
  let sn = size - 1;
  let shape = '';
  while (sn !== 0) {
    if (odd(fn) || fn === sn) {
      shape += 'L';
      while (!odd(fn) && fn !== 0) {
        fn = half(fn);
        sn = half(sn);
      }
    } else shape += 'R';
    fn = half(fn);
    sn = half(sn);
  }
  return shape;
}

/** The same for consistency (§2.1.4.2): whether root1 seeds the path, then per hash: both chains or the second only. */
export function consistencyShape(size1: number, size2: number): string {
  if (size1 === 0 || size1 >= size2) return `special:${size1}:${size2}`;
  let power = 1;
  while (power < size1) power *= 2;
  let shape = power === size1 ? 'seed-root1:' : 'seed-proof:';
  let fn = size1 - 1;
  let sn = size2 - 1;
  while (odd(fn)) {
    fn = half(fn);
    sn = half(sn);
  }
  while (sn !== 0) {
    if (odd(fn) || fn === sn) {
      shape += 'B';
      while (!odd(fn) && fn !== 0) {
        fn = half(fn);
        sn = half(sn);
      }
    } else shape += 'S';
    fn = half(fn);
    sn = half(sn);
  }
  return shape;
}
