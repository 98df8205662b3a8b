export { changeEntry, recordChangesOn } from './ledger-changes.ts';
export type { ChangeFailureLog, LedgerRecording } from './ledger-changes.ts';
