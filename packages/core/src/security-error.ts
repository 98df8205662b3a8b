/** The HTTP statuses a security failure may map to. Each error class fixes its own; nothing picks one at run time. */
export type SecurityStatus = 400 | 401 | 403 | 413 | 429 | 503;

/**
 * The base of every security failure in Covenant (authentication, authorization, tenancy, audit …).
 *
 * - `code` is precise and stable (`ERR_IDENTITY_TOKEN_EXPIRED`): logs, metrics and tests use it.
 * - `wireCode` is what a client sees. Several precise codes share one wire code where telling them apart
 *   would help an attacker (a bad signature and an unknown key are both `ERR_IDENTITY_TOKEN_INVALID`).
 * - `wireMessage` is fixed text for the wire. `message` is for the server log; both name fields, never
 *   the value of a credential or of personal data.
 */
export abstract class SecurityError extends Error {
  abstract readonly code: string;
  abstract readonly status: SecurityStatus;

  get wireCode(): string {
    return this.code;
  }

  abstract readonly wireMessage: string;
}

export function isSecurityError(value: unknown): value is SecurityError {
  return value instanceof SecurityError;
}
