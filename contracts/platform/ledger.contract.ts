import { defineContract, query } from '@covenant/contract';
import * as z from 'zod';

/**
 * The audit ledger, read through the API. The log is shared by every tenant (one Merkle tree), so a
 * caller sees only its own org's entries; what it gets is verifiable offline with the ledger's public
 * key (`verifyBundle` of @covenant/ledger), without trusting this server.
 */
export const ledger = defineContract('ledger', {
  checkpoint: query({
    summary: 'The latest signed checkpoint (C2SP signed note): the size and root every proof is checked against.',
    input: z.strictObject({}),
    output: z.object({ size: z.number().int(), note: z.string() }),
    capability: 'ledger.read',
    errors: { LOG_EMPTY: { status: 404, message: 'The audit log has no entries yet' } },
  }),
  prove: query({
    summary: 'An entry of the caller’s org with its inclusion proof against the latest checkpoint.',
    input: z.strictObject({ seq: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER) }),
    output: z.object({
      entry: z.string(),
      bundle: z.object({
        version: z.number().int(),
        origin: z.string(),
        leafIndex: z.number().int(),
        treeSize: z.number().int(),
        leafHash: z.string(),
        proof: z.array(z.string()),
        checkpoint: z.string(),
      }),
    }),
    capability: 'ledger.read',
    errors: { ENTRY_NOT_FOUND: { status: 404, message: 'No such entry in your organisation’s audit trail' } },
  }),
  consistency: query({
    summary:
      'A consistency proof from an earlier tree size (an audit receipt’s checkpoint) to the latest signed checkpoint: the log the caller was shown is a prefix of today’s.',
    input: z.strictObject({ fromSize: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER) }),
    output: z.object({ fromSize: z.number().int(), toSize: z.number().int(), note: z.string(), proof: z.array(z.string()) }),
    capability: 'ledger.read',
    errors: { SIZE_NOT_FOUND: { status: 404, message: 'The log has no checkpoint that large' } },
  }),
});
