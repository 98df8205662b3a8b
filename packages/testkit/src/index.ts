export { createMemoryAudit } from './memory-audit.ts';
export type { AuditEvent, MemoryAudit } from './memory-audit.ts';
export { createStaticAuthorization } from './static-authorization.ts';
export type { StaticGrants } from './static-authorization.ts';
export { createTestIssuer } from '@covenant/identity/testing';
export type { TestIssuer } from '@covenant/identity/testing';
export { contractSource, createTempProject } from './temp-project.ts';
export type { TempProject, TempProjectOptions } from './temp-project.ts';
export { disableAppendOnly } from './ledger-tamper.ts';
