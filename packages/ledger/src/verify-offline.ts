/**
 * `@covenant/ledger/verify`: the offline verifier on its own — bundles, checkpoints, signed notes,
 * inclusion and consistency proofs, leaf hashes — with nothing Node-only reachable from it (no node:
 * imports, no Buffer or process), so it runs in a browser, a worker or on Node. It re-exports the same
 * functions as `@covenant/ledger`, not a copy: only the SHA-256 primitive differs by environment (`#sha256`
 * in package.json: @noble/hashes in a browser, node:crypto on Node), and both give the same bytes.
 * A static test (test/verify-offline.test.ts) walks this file's import graph and keeps it that way.
 *
 * @example
 * ```ts
 * import { verifyBundle } from '@covenant/ledger/verify';
 * const result = verifyBundle(JSON.parse(text), { name: 'audit.example/log', publicKey }, entryBytes);
 * if (!result.ok) console.error(result.code, result.message);
 * ```
 */
export { assertBundle, verifyBundle } from './bundle.ts';
export type { BundleResult, InclusionBundle } from './bundle.ts';
export { assertCheckpoint, parseCheckpoint, verifyCheckpoint } from './checkpoint.ts';
export type { Checkpoint, CheckpointResult, CheckpointVerifierKey } from './checkpoint.ts';
export { BundleError, CheckpointError, LedgerError, LogError, NoteError, ProofError, isLedgerError } from './errors.ts';
export type {
  BundleErrorCode,
  CheckpointErrorCode,
  LedgerErrorCode,
  LedgerFailure,
  LogErrorCode,
  NoteErrorCode,
  ProofErrorCode,
} from './errors.ts';
export { EMPTY_ROOT, HASH_SIZE, leafHash, nodeHash } from './merkle-hash.ts';
export { ed25519KeyId, isValidKeyName, openNote, verifyEd25519 } from './signed-note.ts';
export type { NoteResult, NoteVerifierKey } from './signed-note.ts';
export {
  assertConsistency,
  assertInclusion,
  consistencyProofLength,
  inclusionProofLength,
  verifyConsistency,
  verifyInclusion,
} from './verify.ts';
export type { ConsistencyInput, InclusionInput, ProofResult } from './verify.ts';
