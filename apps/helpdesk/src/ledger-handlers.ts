import type { LedgerStore } from '@covenant/ledger';
import type { Handlers } from './generated/handlers.ts';

/**
 * The `ledger` platform contract over the service's ledger. The log is one tree for every tenant, so a
 * caller may only read (and prove) entries of its own tenant — its org, and for a session limited to a
 * workspace, that workspace; any other index is "not found", whether it exists or not.
 */
export function createLedgerHandlers(ledger: LedgerStore): Handlers['ledger'] {
  return {
    checkpoint: async ({ ctx }) => {
      const latest = await ledger.latestCheckpoint();
      if (latest === null) return ctx.fail('LOG_EMPTY');
      return { size: latest.checkpoint.size, note: latest.note };
    },
    prove: async ({ input, ctx }) => {
      const stored = await ledger.readEntry(input.seq).catch((error: unknown) => {
        if (error instanceof RangeError) return null;
        throw error;
      });
      // The caller's tenant only: its org and, for a session limited to a workspace, that workspace.
      const tenant = stored?.entry.tenant;
      const visible = tenant?.org === ctx.tenant.org && (ctx.tenant.workspace === null || tenant.workspace === ctx.tenant.workspace);
      if (stored === null || !visible) return ctx.fail('ENTRY_NOT_FOUND');
      const bundle = await ledger.inclusionBundle(input.seq);
      return { entry: new TextDecoder().decode(stored.bytes), bundle: { ...bundle, proof: [...bundle.proof] } };
    },
    // Hashes of the shared tree only: nothing of any tenant's entries.
    consistency: async ({ input, ctx }) => {
      const latest = await ledger.latestCheckpoint();
      if (latest === null || input.fromSize > latest.checkpoint.size) return ctx.fail('SIZE_NOT_FOUND');
      const proof = await ledger.consistencyProof(input.fromSize, latest.checkpoint.size);
      return {
        fromSize: input.fromSize,
        toSize: latest.checkpoint.size,
        note: latest.note,
        proof: proof.map((hash) => Buffer.from(hash).toString('base64')),
      };
    },
  };
}
