// Store conformance suites: the contract every storage backend of a Covenant store honours, registered as
// vitest blocks. A backend runs each with a factory for its database (see ../../README.md).
export { postgresConformanceFactory, sqliteConformanceFactory } from './factory.ts';
export type { ConformanceDatabase, StoreConformanceFactory } from './factory.ts';
export { runAuditPortConformance } from './audit-port.ts';
export type { AuditPortConformanceFactory, AuditPortUnderTest, RecordedAuditEvent } from './audit-port.ts';
export { runLedgerConformance } from './ledger.ts';
export { runRbacConformance } from './rbac.ts';
export { runRevocationConformance } from './revocation.ts';
