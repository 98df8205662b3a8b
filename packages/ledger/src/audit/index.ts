export { ABORTED_BY_CRASH, createLedgerAudit } from './ledger-audit.ts';
export type { LedgerAudit, LedgerAuditOptions } from './ledger-audit.ts';
export { WriterBusyError, WriterLockLostError } from './writer-lock.ts';
