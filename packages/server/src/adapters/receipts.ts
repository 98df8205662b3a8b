import type { AuditReceiptCall, TransportContext } from '../pipeline/deps.ts';
import type { AuditReceipt } from '@covenant/core';

/**
 * The response header that carries the receipts of a request's audited calls: base64url of the JSON array
 * of {@link WireAuditReceipt}, one per audited call (a batch may carry several, a request without audited
 * calls none and no header). A client keeps them and later holds the log to them: an inclusion proof of
 * each entry against the receipt's checkpoint (`ledger.prove`, `verifyBundle`), and every newer head
 * consistent with it (docs/ledger.md, "Receipts").
 */
export const RECEIPTS_HEADER = 'covenant-receipts';

/** One receipt as the header carries it: which call of the request, and its `AuditReceipt`. */
export interface WireAuditReceipt extends AuditReceipt {
  /** The call's index in its batch (0 for a request that is not a batch). */
  readonly call: number;
  readonly path: string;
  readonly requestId: string;
}

/** What an adapter keeps per request: the context its calls run with, and the receipts they hand back. */
export interface ReceiptCollector {
  /** The request's transport context, with its receipt sink. */
  readonly context: TransportContext;
  /** The header value for the receipts collected so far, or `undefined` when there are none. */
  header(): string | undefined;
}

/** A collector for one request whose context is `base` (the Authorization header, as the runtime read it). */
export function collectReceipts(base: TransportContext): ReceiptCollector {
  const receipts: WireAuditReceipt[] = [];
  const context: TransportContext = {
    ...base,
    onAuditReceipt: (receipt: AuditReceipt, call: AuditReceiptCall) => {
      receipts.push({
        call: call.batchIndex,
        path: call.path,
        requestId: call.requestId,
        intentSeq: receipt.intentSeq,
        outcomeSeq: receipt.outcomeSeq,
        checkpoint: { size: receipt.checkpoint.size, root: receipt.checkpoint.root, note: receipt.checkpoint.note },
      });
    },
  };
  return {
    context,
    header() {
      if (receipts.length === 0) return undefined;
      const ordered = [...receipts].sort((a, b) => a.call - b.call);
      return Buffer.from(JSON.stringify(ordered), 'utf8').toString('base64url');
    },
  };
}
