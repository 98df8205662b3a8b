import { SecurityError } from '@covenant/core';

/** A tenancy key (`orgId`, `workspaceId`, `tenantId` …) in the raw input: the tenant comes from the session. */
export class TenancyKeyInInputError extends SecurityError {
  override readonly name = 'TenancyKeyInInputError';
  readonly code = 'ERR_TENANCY_KEY_IN_INPUT' as const;
  readonly status = 400 as const;
  readonly wireMessage: string;
  /** Where the key was found, e.g. `ticket.orgId`. A key name, never a value. */
  readonly at: string;

  constructor(at: string) {
    super(`tenancy key in the input at "${at.slice(0, 512)}"`);
    this.at = at;
    // The path is the caller's own keys: bounded, so a huge key or a deep path is not echoed back whole.
    const shown = at.length > MAX_ECHO ? `…${at.slice(-MAX_ECHO)}` : at;
    this.wireMessage = `"${shown}" is not accepted: the tenant comes from the verified session, never from the input`;
  }
}

/** How much of a caller's own key path a wire message may repeat. */
const MAX_ECHO = 100;

/** The raw input nests deeper than the pipeline accepts (refused before any schema or walker sees it). */
export class InputTooDeepError extends SecurityError {
  override readonly name = 'InputTooDeepError';
  readonly code = 'ERR_INPUT_TOO_DEEP' as const;
  readonly status = 400 as const;
  readonly wireMessage: string;

  constructor(maxDepth: number) {
    super(`the input nests deeper than ${maxDepth} levels`);
    this.wireMessage = `The input nests deeper than ${maxDepth} levels`;
  }
}

/** A string (a key or a value) of the raw input is not well-formed Unicode: it holds a lone surrogate. */
export class MalformedTextError extends SecurityError {
  override readonly name = 'MalformedTextError';
  readonly code = 'ERR_INPUT_MALFORMED_TEXT' as const;
  readonly status = 400 as const;
  readonly wireMessage = 'The input holds text that is not well-formed Unicode (a lone surrogate)';

  constructor() {
    super('a string of the input holds a lone surrogate');
  }
}

/** The principal lacks the capability (or access to the resource) the procedure requires. */
export class AccessDeniedError extends SecurityError {
  override readonly name = 'AccessDeniedError';
  readonly code = 'ERR_AUTHZ_DENIED' as const;
  readonly status = 403 as const;
  readonly wireMessage = 'The caller is not allowed to perform this operation';
  readonly decisionCode: string;

  constructor(decisionCode: string, capability: string) {
    super(`access denied (${decisionCode}) for capability "${capability}"`);
    this.decisionCode = decisionCode;
  }
}

/**
 * A server-side caller passed a principal that the identity package did not verify: contexts cannot be
 * forged, a principal comes from a verified token or not at all. (A verified one that has since expired
 * or been revoked is refused by the verifier's own error.)
 */
export class UnverifiedPrincipalError extends SecurityError {
  override readonly name = 'UnverifiedPrincipalError';
  readonly code = 'ERR_IDENTITY_PRINCIPAL_UNVERIFIED' as const;
  readonly status = 401 as const;
  readonly wireMessage = 'Authentication required';
  override get wireCode(): string {
    return 'ERR_IDENTITY_TOKEN_INVALID';
  }

  constructor() {
    super("the caller's principal is not one the identity package verified");
  }
}

/**
 * An error a handler raises on purpose (through `ctx.fail(code)`). Only codes declared in the procedure's
 * contract exist; the message on the wire is the declared one.
 */
export class DeclaredError extends Error {
  override readonly name = 'DeclaredError';
  readonly code: string;
  readonly status: number;
  readonly wireMessage: string;

  constructor(code: string, status: number, wireMessage: string) {
    super(`declared error ${code}`);
    this.code = code;
    this.status = status;
    this.wireMessage = wireMessage;
  }
}

