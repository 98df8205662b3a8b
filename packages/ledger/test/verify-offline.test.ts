// `@covenant/ledger/verify` with the portable hash (@noble/hashes, as in a browser) checks bundles the Node
// store wrote (node:crypto), and refuses tampered ones with the same codes as the Node path.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import * as nodePath from '../src/index.ts';
import type { InclusionBundle } from '../src/index.ts';
import { KEY, ORIGIN, createTempDatabases, sample, signer } from './ledger-fixtures.ts';

type Verifier = typeof import('../src/verify-offline.ts');

const temp = createTempDatabases();
let portable: Verifier;
let portableHashes = 0;
const bundles: { bundle: InclusionBundle; entry: Uint8Array }[] = [];
let consistency: { notes: string[]; size1: number; size2: number; root1: Uint8Array; root2: Uint8Array; proof: Uint8Array[] };

beforeAll(async () => {
  // 1. A real log through the Node store (node:crypto hashes, SQLite), several batches and checkpoints.
  const store = await nodePath.createLedgerStore({ db: await temp.open(), origin: ORIGIN, signer });
  const notes: string[] = [];
  for (let batch = 0; batch < 4; batch += 1) {
    await store.append(Array.from({ length: 5 + batch }, (_, i) => sample(batch * 100 + i)));
    notes.push((await store.latestCheckpoint())!.note);
  }
  const size = await store.size();
  for (const seq of [0, 1, 7, size - 1]) {
    // What travels: JSON text, parsed by the third party.
    const bundle = JSON.parse(JSON.stringify(await store.inclusionBundle(seq))) as InclusionBundle;
    bundles.push({ bundle, entry: (await store.readEntry(seq)).bytes });
  }
  const early = nodePath.assertCheckpoint(notes[0]!, KEY);
  const late = nodePath.assertCheckpoint(notes[3]!, KEY);
  consistency = { notes, size1: early.size, size2: late.size, root1: early.root, root2: late.root, proof: await store.consistencyProof(early.size, late.size) };
  await store.close();

  // 2. The verifier's modules evaluated afresh with `#sha256` bound to @noble/hashes, as a browser build binds it.
  vi.resetModules();
  vi.doMock('#sha256', async () => {
    const noble = await import('../src/sha256-portable.ts');
    return {
      ...noble,
      sha256Into: (data: Uint8Array, target: Uint8Array, offset: number) => {
        portableHashes += 1;
        noble.sha256Into(data, target, offset);
      },
    };
  });
  portable = await import('../src/verify-offline.ts');
  vi.doUnmock('#sha256');
  vi.resetModules();
});
afterAll(() => temp.dispose());

const flipByte = (base64: string, index = 0): string => {
  const bytes = Buffer.from(base64, 'base64');
  bytes[index] = (bytes[index] ?? 0) ^ 1;
  return bytes.toString('base64');
};

describe('the portable verifier (@noble/hashes) on bundles from the Node store', () => {
  it('is a separate module instance from the Node one, hashing with @noble/hashes', () => {
    expect(portable.verifyBundle).not.toBe(nodePath.verifyBundle);
    const before = portableHashes;
    portable.leafHash(new Uint8Array([1, 2, 3]));
    expect(portableHashes).toBe(before + 1);
  });

  it('verifies every bundle, with and without the entry bytes', () => {
    expect(bundles).toHaveLength(4);
    for (const { bundle, entry } of bundles) {
      expect(portable.verifyBundle(bundle, KEY, entry)).toMatchObject({ ok: true, leafIndex: bundle.leafIndex, checkpoint: { origin: ORIGIN, size: bundle.treeSize } });
      expect(portable.verifyBundle(bundle, KEY).ok).toBe(true);
      expect(portable.assertBundle(bundle, KEY, entry).size).toBe(bundle.treeSize);
      expect(portable.leafHash(entry)).toEqual(nodePath.leafHash(entry));
    }
  });

  it('refuses tampered bundles with the same code as the Node path', () => {
    const { bundle, entry } = bundles[2]!;
    const otherKey = { ...KEY, publicKey: nodePath.createCheckpointSigner({ name: ORIGIN, privateKey: new Uint8Array(32).fill(9) }).publicKey };
    const tampered: Array<[string, unknown, Uint8Array | undefined, typeof KEY]> = [
      ['proof hash', { ...bundle, proof: [flipByte(bundle.proof[0]!), ...bundle.proof.slice(1)] }, entry, KEY],
      ['leaf hash', { ...bundle, leafHash: flipByte(bundle.leafHash) }, undefined, KEY],
      ['leaf index', { ...bundle, leafIndex: bundle.leafIndex + 1 }, entry, KEY],
      ['tree size', { ...bundle, treeSize: bundle.treeSize - 1 }, entry, KEY],
      ['entry bytes', bundle, new Uint8Array([...entry, 0x20]), KEY],
      ['checkpoint text', { ...bundle, checkpoint: bundle.checkpoint.replace(`\n${bundle.treeSize}\n`, `\n${bundle.treeSize + 1}\n`) }, entry, KEY],
      ['signature (key id intact)', { ...bundle, checkpoint: bundle.checkpoint.replace(/ (\S+)\n$/, (_, blob: string) => ` ${flipByte(blob, 10)}\n`) }, entry, KEY],
      ['another key', bundle, entry, otherKey],
      ['origin', { ...bundle, origin: 'other.example/log' }, entry, KEY],
      ['non-canonical base64', { ...bundle, leafHash: bundle.leafHash.replace(/=$/, '') }, entry, KEY],
      ['extra member', { ...bundle, note: 'x' }, entry, KEY],
    ];
    for (const [what, candidate, bytes, key] of tampered) {
      const expected = nodePath.verifyBundle(candidate, key, bytes);
      expect(expected.ok, what).toBe(false);
      expect(portable.verifyBundle(candidate, key, bytes), what).toEqual(expected);
      expect(() => portable.assertBundle(candidate, key, bytes), what).toThrow(expect.objectContaining({ code: (expected as { code: string }).code }));
    }
  });

  it('checks checkpoints, notes and consistency between checkpoints as the Node path does', () => {
    const { notes, ...proof } = consistency;
    for (const note of notes) {
      expect(portable.verifyCheckpoint(note, KEY)).toEqual(nodePath.verifyCheckpoint(note, KEY));
      expect(portable.openNote(note, KEY)).toEqual(nodePath.openNote(note, KEY));
    }
    expect(portable.ed25519KeyId(KEY.name, KEY.publicKey)).toEqual(nodePath.ed25519KeyId(KEY.name, KEY.publicKey));
    expect(proof.proof.length).toBeGreaterThan(0);
    expect(portable.verifyConsistency(proof)).toEqual({ ok: true });
    const forged = { ...proof, root1: proof.root2 };
    expect(portable.verifyConsistency(forged).ok).toBe(false);
    expect(portable.verifyConsistency(forged)).toEqual(nodePath.verifyConsistency(forged));
  });
});
