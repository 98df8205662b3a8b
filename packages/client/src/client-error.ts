import { TRPCClientError } from '@trpc/client';

/** A validation problem reported by the server. */
export interface ClientIssue {
  readonly path: ReadonlyArray<string | number>;
  readonly code: string;
  readonly message: string;
}

/**
 * A failed call, as the server described it: a stable `code` (a code declared in the contract, or one of
 * Covenant's own such as `ERR_IDENTITY_TOKEN_EXPIRED`), the HTTP status and the request id to quote
 * when reporting a problem. Transport failures have `code: 'ERR_CLIENT_TRANSPORT'` and status 0.
 */
export class CovenantClientError extends Error {
  override readonly name = 'CovenantClientError';
  readonly code: string;
  readonly httpStatus: number;
  readonly requestId: string | null;
  readonly path: string | null;
  readonly issues: ReadonlyArray<ClientIssue>;

  constructor(
    message: string,
    fields: { code: string; httpStatus: number; requestId: string | null; path: string | null; issues: ReadonlyArray<ClientIssue> },
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.code = fields.code;
    this.httpStatus = fields.httpStatus;
    this.requestId = fields.requestId;
    this.path = fields.path;
    this.issues = fields.issues;
  }
}

/**
 * Narrows an unknown error to a Covenant error, optionally with a given code.
 *
 * @example
 * ```ts
 * try { await api.tickets.get.query({ ticketId }); }
 * catch (error) { if (isCovenantError(error, 'TICKET_NOT_FOUND')) showNotFound(); else throw error; }
 * ```
 */
export function isCovenantError<C extends string = string>(error: unknown, code?: C): error is CovenantClientError & { code: C } {
  return error instanceof CovenantClientError && (code === undefined || error.code === code);
}

export function toCovenantError(error: unknown, path: string): CovenantClientError {
  if (error instanceof CovenantClientError) return error;
  if (error instanceof TRPCClientError) {
    const data = (error.data ?? {}) as Record<string, unknown>;
    if (typeof data['code'] === 'string') {
      return new CovenantClientError(
        error.message,
        {
          code: data['code'],
          httpStatus: typeof data['httpStatus'] === 'number' ? data['httpStatus'] : 0,
          requestId: typeof data['requestId'] === 'string' ? data['requestId'] : null,
          path: typeof data['path'] === 'string' ? data['path'] : path,
          issues: Array.isArray(data['issues']) ? (data['issues'] as ClientIssue[]) : [],
        },
        { cause: error },
      );
    }
  }
  return new CovenantClientError(
    'The server could not be reached or answered with something that is not a Covenant response',
    { code: 'ERR_CLIENT_TRANSPORT', httpStatus: 0, requestId: null, path, issues: [] },
    { cause: error },
  );
}
