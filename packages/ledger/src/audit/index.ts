export { ABORTED_BY_CRASH, IntentClosedError, createLedgerAudit } from './ledger-audit.ts';
export type { LedgerAudit, LedgerAuditOptions } from './ledger-audit.ts';
export { WriterBusyError, WriterLockLostError } from './writer-lock.ts';
