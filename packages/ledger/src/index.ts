export { createBundle, assertBundle, verifyBundle } from './bundle.ts';
export type { BundleResult, InclusionBundle } from './bundle.ts';
export { assertCheckpoint, createCheckpointSigner, formatCheckpoint, parseCheckpoint, verifyCheckpoint } from './checkpoint.ts';
export type { Checkpoint, CheckpointResult, CheckpointSigner, CheckpointVerifierKey } from './checkpoint.ts';
export { MAX_ENTRY_BYTES, assertEntry, assertNewEntry, decodeEntry, encodeEntry, entryLeafHash } from './entry.ts';
export type { JsonValue, LedgerEntry, LedgerEntryKind, NewEntry } from './entry.ts';
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
export { LedgerWorkTimeoutError, createLedgerStore } from './ledger-store.ts';
export type { LedgerStore, LedgerStoreOptions, LedgerTables, LedgerTransaction, SignedCheckpoint } from './ledger-store.ts';
export { EMPTY_ROOT, HASH_SIZE, leafHash, nodeHash } from './merkle-hash.ts';
export { createMerkleTree } from './merkle-tree.ts';
export type { MerkleTree } from './merkle-tree.ts';
export { createNoteSigner, ed25519KeyId, isValidKeyName, openNote, verifyEd25519 } from './signed-note.ts';
export type { NoteResult, NoteSigner, NoteSignerOptions, NoteVerifierKey } from './signed-note.ts';
export {
  assertConsistency,
  assertInclusion,
  consistencyProofLength,
  inclusionProofLength,
  verifyConsistency,
  verifyInclusion,
} from './verify.ts';
export type { ConsistencyInput, InclusionInput, ProofResult } from './verify.ts';
export { verifyLedger } from './verify-ledger.ts';
export type { VerifyLedgerOptions, VerifyLedgerResult } from './verify-ledger.ts';
