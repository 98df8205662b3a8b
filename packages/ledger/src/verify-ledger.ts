import { createPublicKey, verify as verifyWithNode, type KeyObject } from 'node:crypto';
import { beginSnapshot } from '@covenant/db';
import { ed25519 } from '@noble/curves/ed25519.js';
import { sql, type Kysely } from 'kysely';
import { verifyCheckpointWith, type Checkpoint, type CheckpointVerifierKey } from './checkpoint.ts';
import type { LedgerErrorCode } from './errors.ts';
import type { LedgerTables } from './ledger-store.ts';
import { appendToFrontier, frontierRoot } from './frontier.ts';
import { verifyEd25519, type SignatureCheck } from './signed-note.ts';
import { checkStoredEntry } from './stored-entry.ts';
import { bytesEqual } from './verify.ts';

export interface VerifyLedgerOptions {
  /** The origin every checkpoint must carry. */
  readonly origin: string;
  /** The log's signing key: its name and 32-byte Ed25519 public key. Nothing else is trusted. */
  readonly keyName: string;
  readonly publicKey: Uint8Array;
  /**
   * A checkpoint note obtained earlier from outside the database (a witness, an auditor's copy, the output
   * of `covenant ledger checkpoint`). Without one, a log truncated exactly at a checkpoint boundary (tail
   * entries and their checkpoints deleted together) is indistinguishable from a shorter honest log; with
   * one, the log must still contain that size with that root.
   */
  readonly trustedCheckpoint?: string;
  /** Called after every page with the number of entries verified so far and the total. */
  readonly onProgress?: (progress: { readonly verified: number; readonly total: number }) => void;
  /** Entries read per query (default 10,000). */
  readonly pageSize?: number;
}

/** The outcome of {@link verifyLedger}: the whole log verified, or the first failure. */
export type VerifyLedgerResult =
  | { readonly ok: true; readonly size: number; readonly checkpoints: number }
  | {
      readonly ok: false;
      /**
       * The first entry index whose integrity is not established: the bad entry itself for entry-level
       * failures; for a checkpoint that does not verify or does not match, the first entry it was to seal
       * (the previous checkpoint's size); for truncation, the log's size.
       */
      readonly index: number;
      readonly code: LedgerErrorCode;
      readonly message: string;
      /** The size of the checkpoint that failed, for checkpoint-level failures. */
      readonly checkpointSize?: number;
    };

interface StoredCheckpoint {
  readonly size: number;
  readonly root: unknown;
  readonly note: string;
}

/**
 * Audits a whole stored log with only the public key: streams the entries in pages; for each, checks the
 * sequence is gap-free, the body is a canonical entry whose `seq` is its row's, SHA-256(0x00 ‖ body)
 * equals the stored leaf hash, the unhashed columns (`kind`, `request_id`, `at`) say what the body says,
 * and its `at` is not earlier than the previous entry's; rebuilds the RFC 9162 tree (a frontier of O(log n) hashes, not the whole
 * tree) and, at every checkpoint size, checks the signature (strict Ed25519, expected origin) and that the
 * signed root is the recomputed root. Checkpoint sizes must grow, no checkpoint may cover more entries
 * than the log holds, and the last one must cover the whole log (unsealed entries fail). Stops at the
 * first failure, which names the index. Throws only for misuse (`TypeError`) or a database error.
 *
 * It reads one snapshot (a read transaction) and holds `db`'s connection until done: give it its own kysely
 * instance when a store on the same instance must keep appending meanwhile (the CLI opens its own).
 *
 * @example
 * ```ts
 * const result = await verifyLedger(db, { origin, keyName: origin, publicKey });
 * if (!result.ok) console.error(`entry ${result.index}: ${result.code} ${result.message}`);
 * ```
 */
export async function verifyLedger(db: Kysely<any>, options: VerifyLedgerOptions): Promise<VerifyLedgerResult> {
  const { origin, keyName, publicKey, onProgress, trustedCheckpoint, pageSize = 10_000 } = options ?? ({} as VerifyLedgerOptions);
  if (db === null || typeof db !== 'object' || typeof db.selectFrom !== 'function') throw new TypeError('verifyLedger: db must be a kysely instance');
  if (typeof origin !== 'string' || origin === '') throw new TypeError('verifyLedger: origin is required');
  if (typeof keyName !== 'string' || keyName === '') throw new TypeError('verifyLedger: keyName is required');
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== 32) throw new TypeError('verifyLedger: publicKey must be 32 bytes');
  if (onProgress !== undefined && typeof onProgress !== 'function') throw new TypeError('verifyLedger: onProgress must be a function');
  if (!Number.isSafeInteger(pageSize) || pageSize < 1) throw new TypeError('verifyLedger: pageSize must be a positive integer');
  const key: CheckpointVerifierKey = { name: keyName, publicKey, origin };
  const check = strictEd25519Check(publicKey);

  let trusted: Checkpoint | null = null;
  if (trustedCheckpoint !== undefined) {
    if (typeof trustedCheckpoint !== 'string') throw new TypeError('verifyLedger: trustedCheckpoint must be a note');
    const result = verifyCheckpointWith(trustedCheckpoint, key, check);
    if (!result.ok) return { ok: false, index: 0, code: result.code, message: `the trusted checkpoint does not verify: ${result.message}` };
    trusted = result.checkpoint;
  }

  // One read transaction: a consistent snapshot (SQLite's WAL, PostgreSQL's repeatable read), so appends
  // committed meanwhile by other connections neither look unsealed nor shift the pages. It holds one
  // connection of this kysely instance until done.
  return db.connection().execute(async (conn) => {
    await beginSnapshot(conn);
    try {
      return await verifySnapshot(conn as Kysely<LedgerTables>, key, check, trusted, pageSize, onProgress);
    } finally {
      await sql`commit`.execute(conn);
    }
  });
}

async function verifySnapshot(
  tdb: Kysely<LedgerTables>,
  key: CheckpointVerifierKey,
  check: SignatureCheck,
  trusted: Checkpoint | null,
  pageSize: number,
  onProgress: VerifyLedgerOptions['onProgress'],
): Promise<VerifyLedgerResult> {
  const checkpoints: StoredCheckpoint[] = await tdb.selectFrom('ledger_checkpoints').select(['size', 'root', 'note']).orderBy('size').execute();
  const totalRow = await tdb.selectFrom('ledger_entries').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirst();
  const total = Number(totalRow?.n ?? 0);

  /** The recomputed tree of the entries verified so far: O(log n) hashes, changed in place. */
  const frontier: Uint8Array[] = [];
  let size = 0;
  let next = 0; // index into checkpoints
  let sealed = 0; // size of the last checkpoint that verified
  let previousSize = -1;
  let previousAt = '';

  const root = (): Uint8Array => frontierRoot(frontier);

  /** Checks every checkpoint (and the trusted one) of exactly the current size. */
  const checkAtSize = (): Failure | null => {
    let current: Uint8Array | null = null;
    const currentRoot = (): Uint8Array => (current ??= root());
    while (next < checkpoints.length && checkpoints[next]!.size === size) {
      const stored = checkpoints[next]!;
      if (stored.size <= previousSize) {
        return fail(sealed, 'ERR_LEDGER_LOG_CHECKPOINT_ORDER', `checkpoint sizes do not grow at ${stored.size}`, stored.size);
      }
      const result = verifyCheckpointWith(stored.note, key, check);
      if (!result.ok) return fail(sealed, result.code, `checkpoint ${stored.size}: ${result.message}`, stored.size);
      if (result.checkpoint.size !== stored.size) {
        return fail(sealed, 'ERR_LEDGER_LOG_CHECKPOINT_ORDER', `checkpoint row ${stored.size} carries a note for size ${result.checkpoint.size}`, stored.size);
      }
      if (!bytesEqual(result.checkpoint.root, currentRoot())) {
        return fail(
          sealed,
          'ERR_LEDGER_LOG_ROOT_MISMATCH',
          `checkpoint ${stored.size}: the entries ${sealed}..${stored.size - 1} do not have the signed root`,
          stored.size,
        );
      }
      // The unhashed copy of the root beside the note must be the signed one, like an entry's columns.
      if (!(stored.root instanceof Uint8Array) || !bytesEqual(stored.root, result.checkpoint.root)) {
        return fail(sealed, 'ERR_LEDGER_LOG_INDEX_MISMATCH', `checkpoint ${stored.size}: its root column differs from its signed note`, stored.size);
      }
      previousSize = stored.size;
      sealed = stored.size;
      next += 1;
    }
    if (trusted !== null && trusted.size === size && !bytesEqual(trusted.root, currentRoot())) {
      return fail(sealed, 'ERR_LEDGER_LOG_ROOT_MISMATCH', `the log at size ${size} does not have the trusted checkpoint's root`, trusted.size);
    }
    return null;
  };

  const odd = checkpoints.find((stored) => !Number.isSafeInteger(stored.size) || stored.size < 0);
  if (odd !== undefined) return fail(0, 'ERR_LEDGER_LOG_CHECKPOINT_ORDER', `a checkpoint row has the invalid size ${odd.size}`);
  let failed = checkAtSize();
  if (failed !== null) return failed;
  for (;;) {
    const rows = await tdb
      .selectFrom('ledger_entries')
      .select(['seq', 'body', 'leaf_hash', 'kind', 'request_id', 'at'])
      .where('seq', '>=', size)
      .orderBy('seq')
      .limit(pageSize)
      .execute();
    for (const row of rows) {
      if (row.seq !== size) return fail(size, 'ERR_LEDGER_LOG_SEQ_MISMATCH', `entry ${size} is missing (the next stored entry is ${row.seq})`);
      const checked = checkStoredEntry(row, size);
      if (!checked.ok) return fail(size, checked.code, checked.message);
      const { leaf, index } = checked;
      // Canonical instants of one format: their order as strings is their order in time.
      if (index.at < previousAt) return fail(size, 'ERR_LEDGER_LOG_TIME_ORDER', `entry ${size} is dated before the entry before it`);
      previousAt = index.at;
      appendToFrontier(frontier, size, leaf);
      size += 1;
      if ((next < checkpoints.length && checkpoints[next]!.size === size) || trusted?.size === size) {
        failed = checkAtSize();
        if (failed !== null) return failed;
      }
    }
    if (rows.length > 0) onProgress?.({ verified: size, total: Math.max(total, size) });
    if (rows.length < pageSize) break;
  }

  if (next < checkpoints.length) {
    const stored = checkpoints[next]!;
    return fail(size, 'ERR_LEDGER_LOG_TRUNCATED', `checkpoint ${stored.size} covers entries the log no longer holds (it has ${size})`, stored.size);
  }
  if (trusted !== null && trusted.size > size) {
    return fail(size, 'ERR_LEDGER_LOG_TRUNCATED', `the trusted checkpoint covers ${trusted.size} entries; the log has ${size}`, trusted.size);
  }
  if (sealed !== size) return fail(sealed, 'ERR_LEDGER_LOG_UNSEALED', `entries ${sealed}..${size - 1} are not covered by a signed checkpoint`);
  return Object.freeze({ ok: true as const, size, checkpoints: checkpoints.length });
}

type Failure = Extract<VerifyLedgerResult, { ok: false }>;

/** ℓ, the order of the Ed25519 base point, little-endian. */
const ED25519_L = Uint8Array.from(Buffer.from('edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010', 'hex'));

/**
 * Strict Ed25519 verification by `publicKey` with exactly the results of {@link verifyEd25519} (noble,
 * `zip215: false`), about ten times faster on valid signatures: a log sealed by small batches has a
 * checkpoint every few entries, and noble's ~2 ms per signature then costs more than auditing the entries.
 *
 * node:crypto (OpenSSL) answers first and its "valid" is taken only when noble's strict rules hold too:
 * OpenSSL accepts only S < ℓ (also checked here) and an R that is byte for byte the canonical encoding of
 * [S]B − [k]A, which implies noble's conditions on R and its cofactored equation, with k hashed from the same
 * bytes; noble's conditions on A (a canonical encoding, not of small order) depend on the key alone and are
 * checked once, here, by noble itself. Anything else — OpenSSL says "invalid", throws, or the key fails
 * those checks — goes to noble, so a signature only noble accepts is still accepted. The Wycheproof vectors
 * check the two agree (test/ledger-signatures.test.ts).
 */
export function strictEd25519Check(publicKey: Uint8Array): SignatureCheck {
  const noble: SignatureCheck = (signature, message) => verifyEd25519(signature, message, publicKey);
  let key: KeyObject;
  try {
    if (publicKey.length !== 32 || ed25519.Point.fromBytes(publicKey, false).isSmallOrder()) return noble;
    key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(publicKey).toString('base64url') }, format: 'jwk' });
  } catch {
    return noble;
  }
  return (signature, message) => {
    if (signature.length === 64 && scalarBelowOrder(signature.subarray(32))) {
      try {
        if (verifyWithNode(null, message, key, signature)) return true;
      } catch {
        // OpenSSL refused the input: noble decides.
      }
    }
    return noble(signature, message);
  };
}

/** Whether the 32-byte little-endian scalar is below ℓ. */
function scalarBelowOrder(scalar: Uint8Array): boolean {
  for (let i = 31; i >= 0; i -= 1) {
    if (scalar[i]! !== ED25519_L[i]!) return scalar[i]! < ED25519_L[i]!;
  }
  return false;
}

function fail(index: number, code: LedgerErrorCode, message: string, checkpointSize?: number): Failure {
  return Object.freeze({ ok: false as const, index, code, message, ...(checkpointSize !== undefined ? { checkpointSize } : {}) });
}
