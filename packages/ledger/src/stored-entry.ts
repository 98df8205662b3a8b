import { canonicalEntryIndex, decodeEntry, entryIndexOf, type EntryIndex } from './entry.ts';
import { LogError, type LogErrorCode } from './errors.ts';
import { HASH_SIZE, leafHash } from './merkle-hash.ts';
import { bytesEqual } from './verify.ts';

/** A row of `ledger_entries` as a driver returns it: nothing in it is trusted. */
export interface StoredEntryRow {
  readonly seq: unknown;
  readonly body: unknown;
  readonly leaf_hash: unknown;
  readonly kind: unknown;
  readonly request_id: unknown;
  readonly at: unknown;
}

/** A row checked against its own body: the leaf hash recomputed from the body, and what the body says. */
export type StoredEntryCheck =
  | { readonly ok: true; readonly leaf: Uint8Array; readonly index: EntryIndex }
  | { readonly ok: false; readonly code: LogErrorCode; readonly message: string };

/**
 * Checks stored entry `seq` (internal; the one rule of `verifyLedger` and of the store's catch-up): the
 * body must be the canonical encoding of a valid entry whose `seq` is `seq`; SHA-256(0x00 ‖ body) must be
 * the stored leaf hash; and every unhashed column (`seq`, `kind`, `request_id`, `at`) must say what the body
 * says, because readers select by them (open intents, an intent's outcome) and nothing signs them. Only
 * the body is believed: the leaf hash handed back is the one recomputed from it.
 */
export function checkStoredEntry(row: StoredEntryRow, seq: number): StoredEntryCheck {
  const body = row.body;
  if (!(body instanceof Uint8Array)) return refused('ERR_LEDGER_LOG_ENTRY_MALFORMED', `entry ${seq} has no body`);
  // The byte-level check proves the common case canonical without parsing; anything it cannot tell
  // (and every malformed entry, for its precise error) goes through decodeEntry.
  let index = canonicalEntryIndex(body);
  if (index === undefined) {
    try {
      index = entryIndexOf(decodeEntry(body));
    } catch (error) {
      if (!(error instanceof LogError)) throw error;
      return refused(error.code, `entry ${seq}: ${error.message}`);
    }
  }
  if (index.seq !== seq) return refused('ERR_LEDGER_LOG_SEQ_MISMATCH', `entry ${seq} carries seq ${index.seq}`);
  const leaf = leafHash(body);
  const stored = row.leaf_hash;
  if (!(stored instanceof Uint8Array) || stored.length !== HASH_SIZE || !bytesEqual(leaf, stored)) {
    return refused('ERR_LEDGER_LOG_LEAF_MISMATCH', `entry ${seq}: the stored leaf hash is not the hash of its body`);
  }
  // Names the column, never its value or the body's (an index column may carry anything an attacker put there).
  const column =
    row.seq !== seq ? 'seq' : row.kind !== index.kind ? 'kind' : row.request_id !== index.requestId ? 'request_id' : row.at !== index.at ? 'at' : null;
  if (column !== null) return refused('ERR_LEDGER_LOG_INDEX_MISMATCH', `entry ${seq}: its ${column} column differs from its body`);
  return { ok: true, leaf, index };
}

function refused(code: LogErrorCode, message: string): StoredEntryCheck {
  return { ok: false, code, message };
}
