import { describe, expect, it } from 'vitest';
import { assertBundle, BundleError, createBundle, createCheckpointSigner, leafHash, ProofError, verifyBundle } from '../src/index.ts';
import type { InclusionBundle } from '../src/index.ts';
import { buildTree, entryBytes, fromHex } from './helpers.ts';

const ORIGIN = 'audit.example/log';
const PRIVATE_KEY = fromHex('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60');
const signer = createCheckpointSigner({ name: ORIGIN, privateKey: PRIVATE_KEY });
/** The verifier holds only this: a name and a public key. */
const key = { name: ORIGIN, publicKey: signer.publicKey };

const SEED = 3;
const tree = buildTree(37, SEED);
const INDEX = 22;
const entry = entryBytes(SEED, INDEX);
const checkpoint = signer.sign({ origin: ORIGIN, size: 37, root: tree.root() });
const bundle = createBundle({
  origin: ORIGIN,
  leafIndex: INDEX,
  treeSize: 37,
  leafHash: tree.leafHash(INDEX),
  proof: tree.inclusionProof(INDEX, 37),
  checkpoint,
});
/** What travels: JSON text, parsed again by the third party. */
const offline = JSON.parse(JSON.stringify(bundle)) as InclusionBundle;

describe('inclusion bundle', () => {
  it('verifies offline with only the public key, with and without the entry', () => {
    expect(verifyBundle(offline, key)).toMatchObject({ ok: true, leafIndex: INDEX, checkpoint: { origin: ORIGIN, size: 37 } });
    expect(verifyBundle(offline, key, entry).ok).toBe(true);
    expect(verifyBundle(offline, { ...key, origin: ORIGIN }, entry).ok).toBe(true);
    expect(assertBundle(offline, key, entry).size).toBe(37);
  });

  it('is frozen JSON with base64 hashes', () => {
    expect(Object.isFrozen(bundle)).toBe(true);
    expect(bundle.version).toBe(1);
    expect(bundle.leafHash).toBe(Buffer.from(leafHash(entry)).toString('base64'));
    expect(bundle.proof).toHaveLength(tree.inclusionProof(INDEX).length);
  });

  it('an older checkpoint still proves an entry it covers', () => {
    const older = createBundle({
      origin: ORIGIN,
      leafIndex: 3,
      treeSize: 10,
      leafHash: tree.leafHash(3),
      proof: tree.inclusionProof(3, 10),
      checkpoint: signer.sign({ origin: ORIGIN, size: 10, root: tree.root(10) }),
    });
    expect(verifyBundle(older, key, entryBytes(SEED, 3)).ok).toBe(true);
  });

  const flip = (base64: string): string => {
    const bytes = Buffer.from(base64, 'base64');
    bytes[0] = (bytes[0] ?? 0) ^ 1;
    return bytes.toString('base64');
  };
  const otherSigner = createCheckpointSigner({ name: ORIGIN, privateKey: fromHex('4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb') });

  const tampered: Array<[string, unknown, string]> = [
    ['version 2', { ...offline, version: 2 }, 'ERR_LEDGER_BUNDLE_MALFORMED'],
    ['an extra member', { ...offline, note: 'x' }, 'ERR_LEDGER_BUNDLE_MALFORMED'],
    ['a missing member', (({ proof: _proof, ...rest }) => rest)(offline), 'ERR_LEDGER_BUNDLE_MALFORMED'],
    ['a member set to undefined', { ...offline, proof: undefined }, 'ERR_LEDGER_BUNDLE_MALFORMED'],
    ['not an object', [offline], 'ERR_LEDGER_BUNDLE_MALFORMED'],
    ['null', null, 'ERR_LEDGER_BUNDLE_MALFORMED'],
    ['leafIndex as a string', { ...offline, leafIndex: String(INDEX) }, 'ERR_LEDGER_BUNDLE_MALFORMED'],
    ['leafIndex negative', { ...offline, leafIndex: -1 }, 'ERR_LEDGER_BUNDLE_MALFORMED'],
    ['treeSize beyond 2^53', { ...offline, treeSize: 2 ** 64 }, 'ERR_LEDGER_BUNDLE_MALFORMED'],
    ['leafHash not base64', { ...offline, leafHash: '!!' }, 'ERR_LEDGER_BUNDLE_MALFORMED'],
    ['a proof hash not base64', { ...offline, proof: [...offline.proof.slice(1), 'a b'] }, 'ERR_LEDGER_BUNDLE_MALFORMED'],
    ['a proof that is not an array', { ...offline, proof: offline.proof.join(',') }, 'ERR_LEDGER_BUNDLE_MALFORMED'],
    ['a proof of 65 hashes', { ...offline, proof: Array.from({ length: 65 }, () => offline.leafHash) }, 'ERR_LEDGER_BUNDLE_MALFORMED'],
    ['checkpoint not a string', { ...offline, checkpoint: 1 }, 'ERR_LEDGER_BUNDLE_MALFORMED'],
    ['origin changed', { ...offline, origin: 'other.example/log' }, 'ERR_LEDGER_BUNDLE_ORIGIN_MISMATCH'],
    ['treeSize + 1', { ...offline, treeSize: 38 }, 'ERR_LEDGER_BUNDLE_SIZE_MISMATCH'],
    ['treeSize - 1', { ...offline, treeSize: 36 }, 'ERR_LEDGER_BUNDLE_SIZE_MISMATCH'],
    ['leafIndex + 1', { ...offline, leafIndex: INDEX + 1 }, 'ERR_LEDGER_PROOF_ROOT_MISMATCH'],
    ['leafIndex beyond the tree', { ...offline, leafIndex: 37 }, 'ERR_LEDGER_PROOF_INDEX_OUT_OF_RANGE'],
    ['leafHash flipped', { ...offline, leafHash: flip(offline.leafHash) }, 'ERR_LEDGER_PROOF_ROOT_MISMATCH'],
    ['leafHash of 31 bytes', { ...offline, leafHash: Buffer.alloc(31).toString('base64') }, 'ERR_LEDGER_PROOF_HASH_LENGTH'],
    ['a proof hash flipped', { ...offline, proof: offline.proof.map((hash, k) => (k === 2 ? flip(hash) : hash)) }, 'ERR_LEDGER_PROOF_ROOT_MISMATCH'],
    ['the proof truncated', { ...offline, proof: offline.proof.slice(0, -1) }, 'ERR_LEDGER_PROOF_LENGTH'],
    ['the proof extended', { ...offline, proof: [...offline.proof, offline.leafHash] }, 'ERR_LEDGER_PROOF_LENGTH'],
    ['the checkpoint size edited', { ...offline, checkpoint: checkpoint.replace('\n37\n', '\n38\n') }, 'ERR_LEDGER_NOTE_SIGNATURE_INVALID'],
    ['the checkpoint signed by another key', { ...offline, checkpoint: otherSigner.sign({ origin: ORIGIN, size: 37, root: tree.root() }) }, 'ERR_LEDGER_NOTE_KEY_ID_MISMATCH'],
    [
      'a checkpoint for another tree, re-signed by another key, with a consistent proof',
      (() => {
        const forged = buildTree(37, 99);
        return { ...offline, leafHash: Buffer.from(forged.leafHash(INDEX)).toString('base64'), proof: forged.inclusionProof(INDEX).map((h) => Buffer.from(h).toString('base64')), checkpoint: otherSigner.sign({ origin: ORIGIN, size: 37, root: forged.root() }) };
      })(),
      'ERR_LEDGER_NOTE_KEY_ID_MISMATCH',
    ],
    ['the checkpoint of another size (signature valid)', { ...offline, checkpoint: signer.sign({ origin: ORIGIN, size: 36, root: tree.root(36) }) }, 'ERR_LEDGER_BUNDLE_SIZE_MISMATCH'],
    ['the checkpoint with a wrong root (signature valid)', { ...offline, checkpoint: signer.sign({ origin: ORIGIN, size: 37, root: tree.root(36) }) }, 'ERR_LEDGER_PROOF_ROOT_MISMATCH'],
    ['a checkpoint of another origin (signature valid)', { ...offline, checkpoint: signer.sign({ origin: 'staging.example/log', size: 37, root: tree.root() }) }, 'ERR_LEDGER_BUNDLE_ORIGIN_MISMATCH'],
    ['the checkpoint truncated', { ...offline, checkpoint: checkpoint.slice(0, -1) }, 'ERR_LEDGER_NOTE_MALFORMED'],
  ];

  for (const [what, value, code] of tampered) {
    it(`refuses ${what} (${code})`, () => {
      expect(verifyBundle(value, key, entry)).toMatchObject({ ok: false, code });
    });
  }

  it('refuses a bundle for another entry when the entry is given (ERR_LEDGER_BUNDLE_ENTRY_MISMATCH)', () => {
    expect(verifyBundle(offline, key, entryBytes(SEED, INDEX + 1))).toMatchObject({ ok: false, code: 'ERR_LEDGER_BUNDLE_ENTRY_MISMATCH' });
    expect(verifyBundle(offline, key, new Uint8Array())).toMatchObject({ ok: false, code: 'ERR_LEDGER_BUNDLE_ENTRY_MISMATCH' });
  });

  it('refuses a bundle whose checkpoint is for another origin than the one expected', () => {
    const staging = createBundle({ ...offline, origin: 'staging.example/log', leafHash: tree.leafHash(INDEX), proof: tree.inclusionProof(INDEX), checkpoint: signer.sign({ origin: 'staging.example/log', size: 37, root: tree.root() }) });
    expect(verifyBundle(staging, key).ok).toBe(true);
    expect(verifyBundle(staging, { ...key, origin: ORIGIN })).toMatchObject({ ok: false, code: 'ERR_LEDGER_CHECKPOINT_ORIGIN_MISMATCH' });
  });

  it('assertBundle throws the error class of the failure family', () => {
    expect(() => assertBundle({ ...offline, treeSize: 38 }, key)).toThrow(BundleError);
    expect(() => assertBundle({ ...offline, leafIndex: INDEX + 1 }, key)).toThrow(ProofError);
  });

  it('caller misuse throws TypeError (an entry that is not bytes, a bad key)', () => {
    expect(() => verifyBundle(offline, key, 'entry' as unknown as Uint8Array)).toThrow(TypeError);
    expect(() => verifyBundle(offline, { name: ORIGIN, publicKey: new Uint8Array(32).subarray(1) })).toThrow(TypeError);
  });
});
