export { EscalationRefusedError, RbacChangeError } from './errors.ts';
export type { RbacErrorCode } from './errors.ts';
export { evaluate } from './evaluate.ts';
export type { Grant } from './evaluate.ts';
export type { Binding, ChangeRecord, RbacActor, ResourceScope, Role } from './model.ts';
export { createRbacStore } from './rbac-store.ts';
export type { NewBinding, NewRole, RbacStore, RbacStoreOptions, RoleChanges } from './rbac-store.ts';
export type { RbacTables } from './tables.ts';
