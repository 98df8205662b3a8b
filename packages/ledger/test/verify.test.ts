import { describe, expect, it } from 'vitest';
import {
  assertConsistency,
  assertInclusion,
  consistencyProofLength,
  inclusionProofLength,
  isLedgerError,
  leafHash,
  nodeHash,
  ProofError,
  verifyConsistency,
  verifyInclusion,
} from '../src/index.ts';
import type { ConsistencyInput, InclusionInput } from '../src/index.ts';
import { buildTree } from './helpers.ts';

const tree = buildTree(13);
const inclusion: InclusionInput = { leafIndex: 5, treeSize: 13, leafHash: tree.leafHash(5), proof: tree.inclusionProof(5), root: tree.root() };
const consistency: ConsistencyInput = { size1: 6, size2: 13, root1: tree.root(6), root2: tree.root(), proof: tree.consistencyProof(6) };

describe('verifyInclusion refusals (RFC 9162 §2.1.3.2)', () => {
  it('accepts the genuine proof', () => {
    expect(verifyInclusion(inclusion)).toEqual({ ok: true });
  });

  it('index ≥ size', () => {
    expect(verifyInclusion({ ...inclusion, leafIndex: 13 })).toMatchObject({ ok: false, code: 'ERR_LEDGER_PROOF_INDEX_OUT_OF_RANGE' });
    expect(verifyInclusion({ ...inclusion, leafIndex: 0, treeSize: 0, proof: [] })).toMatchObject({ ok: false, code: 'ERR_LEDGER_PROOF_INDEX_OUT_OF_RANGE' });
  });

  it('a proof too short or too long', () => {
    expect(verifyInclusion({ ...inclusion, proof: inclusion.proof.slice(1) })).toMatchObject({ code: 'ERR_LEDGER_PROOF_LENGTH' });
    expect(verifyInclusion({ ...inclusion, proof: [...inclusion.proof, inclusion.root] })).toMatchObject({ code: 'ERR_LEDGER_PROOF_LENGTH' });
    expect(verifyInclusion({ ...inclusion, proof: [] })).toMatchObject({ code: 'ERR_LEDGER_PROOF_LENGTH' });
  });

  it('a hash that is not 32 bytes (leaf, root, proof element)', () => {
    expect(verifyInclusion({ ...inclusion, leafHash: new Uint8Array(31) })).toMatchObject({ code: 'ERR_LEDGER_PROOF_HASH_LENGTH' });
    expect(verifyInclusion({ ...inclusion, root: new Uint8Array(0) })).toMatchObject({ code: 'ERR_LEDGER_PROOF_HASH_LENGTH' });
    const proof = [...inclusion.proof];
    proof[1] = new Uint8Array(33);
    expect(verifyInclusion({ ...inclusion, proof })).toMatchObject({ code: 'ERR_LEDGER_PROOF_HASH_LENGTH', message: 'proof[1] must be 32 bytes' });
  });

  it('a wrong root', () => {
    expect(verifyInclusion({ ...inclusion, root: tree.root(12) })).toMatchObject({ code: 'ERR_LEDGER_PROOF_ROOT_MISMATCH' });
  });

  it('domain separation: an inner node cannot pose as the leaf of an entry (second preimage)', () => {
    const eight = buildTree(8);
    const [h45, h67, h0123] = [nodeHash(eight.leafHash(4), eight.leafHash(5)), nodeHash(eight.leafHash(6), eight.leafHash(7)), eight.root(4)];
    // Seen as a 4-"leaf" tree of pairs, H(l4, l5) is "leaf" 2 with path [H(l6, l7), H(l0..l3)] and the
    // same root: a bare hash chain cannot tell, which is why sizes come from a signed checkpoint
    // (the bundle refuses size 4 ≠ 8) and leaf hashes from the entry bytes.
    expect(verifyInclusion({ leafIndex: 2, treeSize: 4, leafHash: h45, proof: [h67, h0123], root: eight.root() }).ok).toBe(true);
    // The forged entry l4 ‖ l5 hashes with the 0x00 prefix, so it is not that node.
    const forgedEntry = new Uint8Array([...eight.leafHash(4), ...eight.leafHash(5)]);
    expect(verifyInclusion({ leafIndex: 2, treeSize: 4, leafHash: leafHash(forgedEntry), proof: [h67, h0123], root: eight.root() })).toMatchObject({
      code: 'ERR_LEDGER_PROOF_ROOT_MISMATCH',
    });
  });

  it('caller misuse throws TypeError', () => {
    const bad: Array<Partial<Record<keyof InclusionInput, unknown>>> = [
      { leafIndex: -1 },
      { leafIndex: 1.5 },
      { leafIndex: '1' },
      { treeSize: Number.MAX_SAFE_INTEGER + 1 },
      { treeSize: Number.NaN },
      { leafHash: 'aGVsbG8=' },
      { root: [...inclusion.root] },
      { proof: 'x' },
      { proof: [...inclusion.proof, 'x'] },
    ];
    for (const change of bad) {
      expect(() => verifyInclusion({ ...inclusion, ...change } as InclusionInput), JSON.stringify(change)).toThrow(TypeError);
    }
  });

  it('assertInclusion throws a ProofError with the code', () => {
    expect(() => assertInclusion(inclusion)).not.toThrow();
    try {
      assertInclusion({ ...inclusion, leafIndex: 99 });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ProofError);
      expect(isLedgerError(error)).toBe(true);
      expect((error as ProofError).code).toBe('ERR_LEDGER_PROOF_INDEX_OUT_OF_RANGE');
      expect((error as ProofError).name).toBe('ProofError');
    }
  });

  it('handles sizes beyond 32 bits without bit-operator overflow', () => {
    // A 2^40-leaf tree: the path of leaf 2^40 - 1 has 40 hashes; garbage of that length must fail on the root, not crash.
    const size = 2 ** 40;
    expect(inclusionProofLength(size - 1, size)).toBe(40);
    expect(inclusionProofLength(0, Number.MAX_SAFE_INTEGER)).toBe(53);
    const proof = Array.from({ length: 40 }, () => new Uint8Array(32));
    expect(verifyInclusion({ leafIndex: size - 1, treeSize: size, leafHash: new Uint8Array(32), proof, root: new Uint8Array(32) })).toMatchObject({
      code: 'ERR_LEDGER_PROOF_ROOT_MISMATCH',
    });
  });
});

describe('verifyConsistency refusals (RFC 9162 §2.1.4.2)', () => {
  it('accepts the genuine proof', () => {
    expect(verifyConsistency(consistency)).toEqual({ ok: true });
  });

  it('size1 > size2', () => {
    expect(verifyConsistency({ ...consistency, size1: 14 })).toMatchObject({ code: 'ERR_LEDGER_PROOF_SIZE_ORDER' });
  });

  it('size1 = 0, with or without a proof', () => {
    expect(verifyConsistency({ ...consistency, size1: 0, proof: [] })).toMatchObject({ code: 'ERR_LEDGER_PROOF_EMPTY_TREE' });
    expect(verifyConsistency({ ...consistency, size1: 0 })).toMatchObject({ code: 'ERR_LEDGER_PROOF_EMPTY_TREE' });
    expect(verifyConsistency({ ...consistency, size1: 0, size2: 0, root2: consistency.root1, proof: [] })).toMatchObject({
      code: 'ERR_LEDGER_PROOF_EMPTY_TREE',
    });
  });

  it('size1 = size2 with a non-empty proof, or with different roots', () => {
    const same = { size1: 13, size2: 13, root1: tree.root(), root2: tree.root() };
    expect(verifyConsistency({ ...same, proof: [] })).toEqual({ ok: true });
    expect(verifyConsistency({ ...same, proof: [tree.root()] })).toMatchObject({ code: 'ERR_LEDGER_PROOF_LENGTH' });
    expect(verifyConsistency({ ...same, root2: tree.root(12), proof: [] })).toMatchObject({ code: 'ERR_LEDGER_PROOF_ROOT_MISMATCH' });
  });

  it('a proof too short, too long or empty', () => {
    expect(verifyConsistency({ ...consistency, proof: consistency.proof.slice(0, -1) })).toMatchObject({ code: 'ERR_LEDGER_PROOF_LENGTH' });
    expect(verifyConsistency({ ...consistency, proof: [...consistency.proof, tree.root()] })).toMatchObject({ code: 'ERR_LEDGER_PROOF_LENGTH' });
    expect(verifyConsistency({ ...consistency, proof: [] })).toMatchObject({ code: 'ERR_LEDGER_PROOF_LENGTH' });
    expect(consistencyProofLength(6, 13)).toBe(consistency.proof.length);
  });

  it('a hash that is not 32 bytes', () => {
    expect(verifyConsistency({ ...consistency, root1: new Uint8Array(12) })).toMatchObject({ code: 'ERR_LEDGER_PROOF_HASH_LENGTH' });
    expect(verifyConsistency({ ...consistency, root2: new Uint8Array(64) })).toMatchObject({ code: 'ERR_LEDGER_PROOF_HASH_LENGTH' });
    expect(verifyConsistency({ ...consistency, proof: [new Uint8Array(31), ...consistency.proof.slice(1)] })).toMatchObject({
      code: 'ERR_LEDGER_PROOF_HASH_LENGTH',
    });
  });

  it('a wrong root1 or root2 (a fork)', () => {
    const fork = buildTree(13, 99);
    expect(verifyConsistency({ ...consistency, root1: fork.root(6) })).toMatchObject({ code: 'ERR_LEDGER_PROOF_ROOT_MISMATCH', message: 'the proof does not lead to root1' });
    expect(verifyConsistency({ ...consistency, root2: fork.root() })).toMatchObject({ code: 'ERR_LEDGER_PROOF_ROOT_MISMATCH', message: 'the proof does not lead to root2' });
  });

  it('caller misuse throws TypeError', () => {
    for (const change of [{ size1: -1 }, { size2: 2.5 }, { root1: null }, { root2: 'x' }, { proof: {} }, { proof: [1] }]) {
      expect(() => verifyConsistency({ ...consistency, ...change } as unknown as ConsistencyInput), JSON.stringify(change)).toThrow(TypeError);
    }
  });

  it('assertConsistency throws a ProofError with the code', () => {
    expect(() => assertConsistency(consistency)).not.toThrow();
    expect(() => assertConsistency({ ...consistency, size1: 14 })).toThrow(ProofError);
    expect(() => assertConsistency({ ...consistency, size1: 14 })).toThrow(expect.objectContaining({ code: 'ERR_LEDGER_PROOF_SIZE_ORDER' }));
  });
});
