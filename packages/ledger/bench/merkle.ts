/**
 * Micro-benchmark of the in-memory RFC 9162 tree and the verifier (not a test; nothing is asserted).
 * Run: cd packages/ledger && npx tsx bench/merkle.ts [leaves]
 * Prints a table, then one JSON line for tooling.
 */
import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { createMerkleTree, leafHash, verifyConsistency, verifyInclusion } from '../src/index.ts';

const LEAVES = Number(process.argv[2] ?? 1_000_000);
const SAMPLES = 2_000;

// Leaf hashes are prepared first, so the append rate measures the tree, not the entry hashing.
const prepareStart = performance.now();
const leaves: Uint8Array[] = new Array(LEAVES);
for (let i = 0; i < LEAVES; i += 1) leaves[i] = leafHash(new Uint8Array(createHash('sha256').update(`entry ${i}`).digest()));
const prepareMs = performance.now() - prepareStart;

const tree = createMerkleTree();
const appendStart = performance.now();
for (const hash of leaves) tree.append(hash);
const appendMs = performance.now() - appendStart;

const rootStart = performance.now();
const root = tree.root();
const rootMs = performance.now() - rootStart;
let prefixRootsMs = performance.now();
for (let k = 0; k < SAMPLES; k += 1) tree.root(1 + ((k * 7919) % LEAVES));
prefixRootsMs = (performance.now() - prefixRootsMs) / SAMPLES;

// Pseudo-random sample indexes, the same on every run.
const indexes = Array.from({ length: SAMPLES }, (_, k) => (k * 2_654_435_761) % LEAVES);

const proofs: Uint8Array[][] = [];
const inclusionStart = performance.now();
for (const index of indexes) proofs.push(tree.inclusionProof(index));
const inclusionUs = ((performance.now() - inclusionStart) * 1000) / SAMPLES;

const verifyStart = performance.now();
let verified = 0;
indexes.forEach((index, k) => {
  const proof = proofs[k] ?? [];
  const hash = leaves[index] ?? new Uint8Array();
  if (verifyInclusion({ leafIndex: index, treeSize: LEAVES, leafHash: hash, proof, root }).ok) verified += 1;
});
const verifyInclusionUs = ((performance.now() - verifyStart) * 1000) / SAMPLES;

const sizes = indexes.map((index) => Math.max(1, index));
const consistencyProofs: Uint8Array[][] = [];
const consistencyStart = performance.now();
for (const size1 of sizes) consistencyProofs.push(tree.consistencyProof(size1));
const consistencyUs = ((performance.now() - consistencyStart) * 1000) / SAMPLES;

const oldRoots = sizes.map((size1) => tree.root(size1));
const verifyConsistencyStart = performance.now();
sizes.forEach((size1, k) => {
  const proof = consistencyProofs[k] ?? [];
  const root1 = oldRoots[k] ?? new Uint8Array();
  if (verifyConsistency({ size1, size2: LEAVES, root1, root2: root, proof }).ok) verified += 1;
});
const verifyConsistencyUs = ((performance.now() - verifyConsistencyStart) * 1000) / SAMPLES;

if (verified !== 2 * SAMPLES) throw new Error(`bench: ${2 * SAMPLES - verified} proofs failed to verify`);

const result = {
  bench: 'ledger-merkle',
  node: process.version,
  leaves: LEAVES,
  samples: SAMPLES,
  prepareLeafHashesMs: round(prepareMs),
  appendMs: round(appendMs),
  appendPerSecond: Math.round(LEAVES / (appendMs / 1000)),
  rootMs: round(rootMs),
  prefixRootAvgUs: round(prefixRootsMs * 1000),
  inclusionProofAvgUs: round(inclusionUs),
  inclusionVerifyAvgUs: round(verifyInclusionUs),
  consistencyProofAvgUs: round(consistencyUs),
  consistencyVerifyAvgUs: round(verifyConsistencyUs),
  heapUsedMB: round(process.memoryUsage().heapUsed / 2 ** 20),
  arrayBuffersMB: round(process.memoryUsage().arrayBuffers / 2 ** 20),
};

const rows: Array<[string, string]> = [
  ['leaves', LEAVES.toLocaleString('en')],
  ['append (tree only)', `${result.appendMs} ms, ${result.appendPerSecond.toLocaleString('en')} leaves/s`],
  ['root of full tree', `${result.rootMs} ms`],
  ['root of a random prefix (avg)', `${result.prefixRootAvgUs} µs`],
  ['inclusion proof generation (avg)', `${result.inclusionProofAvgUs} µs`],
  ['inclusion proof verification (avg)', `${result.inclusionVerifyAvgUs} µs`],
  ['consistency proof generation (avg)', `${result.consistencyProofAvgUs} µs`],
  ['consistency proof verification (avg)', `${result.consistencyVerifyAvgUs} µs`],
  ['memory (heap / array buffers)', `${result.heapUsedMB} MB / ${result.arrayBuffersMB} MB`],
];
const width = Math.max(...rows.map(([label]) => label.length));
console.log(`ledger merkle bench (${process.version}, ${SAMPLES} samples per average)`);
for (const [label, value] of rows) console.log(`  ${label.padEnd(width)}  ${value}`);
console.log(JSON.stringify(result));

function round(value: number): number {
  return Math.round(value * 100) / 100;
}
