export { SecurityError, isSecurityError } from './security-error.ts';
export type { SecurityStatus } from './security-error.ts';
