import { verifyCheckpoint } from './checkpoint.ts';
import type { Checkpoint, CheckpointVerifierKey } from './checkpoint.ts';
import { decodeBase64, encodeBase64 } from './encoding.ts';
import { failure, toLedgerError } from './errors.ts';
import type { LedgerFailure } from './errors.ts';
import { leafHash as hashLeaf } from './merkle-hash.ts';
import { bytesEqual, verifyInclusion } from './verify.ts';

/**
 * An offline inclusion proof: everything a third party needs, besides the log's public key, to check
 * that one entry is in the log. Plain JSON: bytes are standard base64 with padding.
 */
export interface InclusionBundle {
  readonly version: 1;
  /** The log's origin; must equal the checkpoint's. */
  readonly origin: string;
  readonly leafIndex: number;
  /** Must equal the checkpoint's size. */
  readonly treeSize: number;
  /** base64 of SHA-256(0x00 ‖ entry). */
  readonly leafHash: string;
  /** base64 of each hash of PATH(leafIndex, D[0:treeSize]), leaf to root. */
  readonly proof: readonly string[];
  /** The signed checkpoint note (c2sp.org/tlog-checkpoint) for treeSize. */
  readonly checkpoint: string;
}

/** The outcome of {@link verifyBundle}: the checkpoint the entry is proven against, or the first failure. */
export type BundleResult =
  | { readonly ok: true; readonly checkpoint: Checkpoint; readonly leafIndex: number }
  | LedgerFailure;

const KEYS = ['checkpoint', 'leafHash', 'leafIndex', 'origin', 'proof', 'treeSize', 'version'];
/** A path in a tree of at most 2^53 leaves has at most 53 hashes. */
const MAX_PROOF_LENGTH = 64;

/**
 * Builds a frozen bundle from bytes. Nothing is checked beyond types: {@link verifyBundle} is the check.
 *
 * @example
 * ```ts
 * const bundle = createBundle({
 *   origin, leafIndex: 3, treeSize: tree.size, leafHash: tree.leafHash(3),
 *   proof: tree.inclusionProof(3, tree.size), checkpoint: signer.sign({ origin, size: tree.size, root: tree.root() }),
 * });
 * JSON.stringify(bundle);
 * ```
 */
export function createBundle(input: {
  readonly origin: string;
  readonly leafIndex: number;
  readonly treeSize: number;
  readonly leafHash: Uint8Array;
  readonly proof: readonly Uint8Array[];
  readonly checkpoint: string;
}): InclusionBundle {
  const { origin, leafIndex, treeSize, leafHash, proof, checkpoint } = input;
  if (typeof origin !== 'string' || typeof checkpoint !== 'string') throw new TypeError('origin and checkpoint must be strings');
  if (!isCount(leafIndex) || !isCount(treeSize)) throw new TypeError('leafIndex and treeSize must be non-negative safe integers');
  if (!(leafHash instanceof Uint8Array) || !Array.isArray(proof) || !proof.every((hash) => hash instanceof Uint8Array)) {
    throw new TypeError('leafHash and proof must be Uint8Arrays');
  }
  return Object.freeze({
    version: 1 as const,
    origin,
    leafIndex,
    treeSize,
    leafHash: encodeBase64(leafHash),
    proof: Object.freeze(proof.map(encodeBase64)),
    checkpoint,
  });
}

/**
 * Verifies a bundle offline with only the log's key: the checkpoint's signature (strict Ed25519),
 * its origin (the bundle's, and `key.origin` when given), that its size is the bundle's treeSize, the
 * inclusion proof against its root, and — when `entry` is given — that the leaf hash is
 * SHA-256(0x00 ‖ entry). `bundle` is untrusted (e.g. `JSON.parse` output): any shape problem is a
 * failure, not an exception.
 *
 * @example
 * ```ts
 * const result = verifyBundle(JSON.parse(text), { name: 'audit.example/log', publicKey }, entryBytes);
 * if (!result.ok) console.error(result.code, result.message);
 * ```
 */
export function verifyBundle(bundle: unknown, key: CheckpointVerifierKey, entry?: Uint8Array): BundleResult {
  if (entry !== undefined && !(entry instanceof Uint8Array)) throw new TypeError('entry must be a Uint8Array');
  const parsed = parseBundle(bundle);
  if (!parsed.ok) return parsed;
  const { origin, leafIndex, treeSize, leafHash, proof, checkpoint: note } = parsed;

  const verified = verifyCheckpoint(note, key);
  if (!verified.ok) return verified;
  const { checkpoint } = verified;
  if (checkpoint.origin !== origin) {
    return failure('ERR_LEDGER_BUNDLE_ORIGIN_MISMATCH', 'the bundle origin differs from its checkpoint origin');
  }
  if (checkpoint.size !== treeSize) {
    return failure('ERR_LEDGER_BUNDLE_SIZE_MISMATCH', 'the bundle treeSize differs from its checkpoint size');
  }
  const included = verifyInclusion({ leafIndex, treeSize, leafHash, proof, root: checkpoint.root });
  if (!included.ok) return included;
  if (entry !== undefined && !bytesEqual(hashLeaf(entry), leafHash)) {
    return failure('ERR_LEDGER_BUNDLE_ENTRY_MISMATCH', 'the entry does not hash to the bundle leafHash');
  }
  return Object.freeze({ ok: true as const, checkpoint, leafIndex });
}

/**
 * {@link verifyBundle}, returning the checkpoint or throwing the `LedgerError` of the first failure.
 *
 * @example
 * ```ts
 * const checkpoint = assertBundle(bundle, { name, publicKey, origin: name }, entryBytes);
 * ```
 */
export function assertBundle(bundle: unknown, key: CheckpointVerifierKey, entry?: Uint8Array): Checkpoint {
  const result = verifyBundle(bundle, key, entry);
  if (!result.ok) throw toLedgerError(result);
  return result.checkpoint;
}

interface ParsedBundle {
  readonly ok: true;
  readonly origin: string;
  readonly leafIndex: number;
  readonly treeSize: number;
  readonly leafHash: Uint8Array;
  readonly proof: Uint8Array[];
  readonly checkpoint: string;
}

function parseBundle(value: unknown): ParsedBundle | LedgerFailure<'ERR_LEDGER_BUNDLE_MALFORMED'> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return malformed('the bundle must be an object');
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record).sort();
  if (keys.length !== KEYS.length || keys.some((name, index) => name !== KEYS[index])) {
    return malformed(`the bundle must have exactly the members ${KEYS.join(', ')}`);
  }
  const { version, origin, leafIndex, treeSize, leafHash, proof, checkpoint } = record;
  if (version !== 1) return malformed('version must be 1');
  if (typeof origin !== 'string') return malformed('origin must be a string');
  if (!isCount(leafIndex)) return malformed('leafIndex must be a non-negative safe integer');
  if (!isCount(treeSize)) return malformed('treeSize must be a non-negative safe integer');
  if (typeof checkpoint !== 'string') return malformed('checkpoint must be a string');
  const leaf = typeof leafHash === 'string' ? decodeBase64(leafHash) : undefined;
  if (leaf === undefined) return malformed('leafHash must be canonical base64');
  if (!Array.isArray(proof) || proof.length > MAX_PROOF_LENGTH) return malformed('proof must be an array of at most 64 hashes');
  const hashes: Uint8Array[] = [];
  for (const [index, item] of (proof as unknown[]).entries()) {
    const hash = typeof item === 'string' ? decodeBase64(item) : undefined;
    if (hash === undefined) return malformed(`proof[${index}] must be canonical base64`);
    hashes.push(hash);
  }
  return { ok: true, origin, leafIndex, treeSize, leafHash: leaf, proof: hashes, checkpoint };
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function malformed(message: string): LedgerFailure<'ERR_LEDGER_BUNDLE_MALFORMED'> {
  return failure('ERR_LEDGER_BUNDLE_MALFORMED', message);
}
