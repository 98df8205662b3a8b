export { CovenantClientError, isCovenantError } from './client-error.ts';
export type { ClientIssue } from './client-error.ts';
export { createCovenantClient } from './create-client.ts';
export type { CallOptions, CovenantClient, CovenantClientOptions, MutationClient, QueryClient } from './create-client.ts';
