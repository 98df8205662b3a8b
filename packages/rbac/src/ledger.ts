export { changeEntry, recordChangesOn } from './ledger-changes.ts';
export type { ChangeFailureLog } from './ledger-changes.ts';
