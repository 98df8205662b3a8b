import { isSecurityError } from '@covenant/core';
import { TRPCError, type TRPC_ERROR_CODE_KEY } from '@trpc/server';
import { TRPC_ERROR_CODES_BY_KEY, getHTTPStatusCodeFromError } from '@trpc/server/unstable-core-do-not-import';
import { randomUUID } from 'node:crypto';
import { DeclaredError } from './errors.ts';

/** A validation problem as the client sees it: where, which rule, and zod's text (which never echoes values). */
export interface WireIssue {
  readonly path: ReadonlyArray<string | number>;
  readonly code: string;
  readonly message: string;
}

/** The `data` of every error response. Nothing else (no stack, no cause) is ever serialised. */
export interface WireErrorData {
  readonly code: string;
  readonly httpStatus: number;
  readonly requestId: string;
  readonly path?: string;
  readonly issues?: ReadonlyArray<WireIssue>;
}

export interface WireErrorShape {
  readonly message: string;
  readonly code: number;
  readonly data: WireErrorData;
}

const MAX_ISSUES = 20;

/**
 * Errors that tRPC itself raises outside any handler (unknown path, bad JSON, wrong method, oversize
 * body, batch too large). Their messages are replaced by fixed ones: tRPC's may quote the request.
 */
const FRAMEWORK_ERRORS: Partial<Record<TRPC_ERROR_CODE_KEY, { code: string; message: string }>> = {
  BAD_REQUEST: { code: 'ERR_REQUEST_MALFORMED', message: 'The request is malformed' },
  PARSE_ERROR: { code: 'ERR_REQUEST_MALFORMED', message: 'The request body is not valid JSON' },
  NOT_FOUND: { code: 'ERR_PROCEDURE_NOT_FOUND', message: 'No such procedure' },
  METHOD_NOT_SUPPORTED: { code: 'ERR_METHOD_NOT_SUPPORTED', message: 'This HTTP method is not supported here' },
  PAYLOAD_TOO_LARGE: { code: 'ERR_PAYLOAD_TOO_LARGE', message: 'The request body is too large' },
  TIMEOUT: { code: 'ERR_REQUEST_TIMEOUT', message: 'The request body did not arrive in time' },
  CLIENT_CLOSED_REQUEST: { code: 'ERR_CLIENT_CLOSED_REQUEST', message: 'The client closed the request' },
  UNSUPPORTED_MEDIA_TYPE: { code: 'ERR_UNSUPPORTED_MEDIA_TYPE', message: 'Unsupported content type' },
};

const INTERNAL = { code: 'ERR_INTERNAL', message: 'Internal server error' } as const;

const requestIds = new WeakMap<TRPCError, string>();

/**
 * Called by the first pipeline step: the wire error will carry the id of the call that failed. tRPC
 * hands every call of a batch the same error object when the shared body fails (bad JSON, too large),
 * so an error that already carries another call's id is copied first: each call shows its own id, the
 * one it was logged under. Returns the error to report.
 */
export function rememberRequestId(error: TRPCError, requestId: string): TRPCError {
  const own = requestIds.has(error) ? new TRPCError({ code: error.code, message: error.message, cause: error.cause }) : error;
  requestIds.set(own, requestId);
  return own;
}

/** How the first step logs a failure: refusals at `info`/`warn` with their code, faults at `error` with the cause. */
export function describeFailure(error: TRPCError): { code: string; level: 'info' | 'warn' | 'error' } {
  const cause = error.cause;
  if (isSecurityError(cause)) return { code: cause.code, level: cause.status >= 500 ? 'error' : 'warn' };
  if (cause instanceof DeclaredError) return { code: cause.code, level: 'info' };
  if (isInputValidationError(error)) return { code: 'ERR_INPUT_INVALID', level: 'info' };
  // tRPC's own refusals of the request (bad JSON, oversize body, unknown path …) are the caller's
  // mistakes, not faults: logged by code only, because their messages may quote the request body.
  const framework = error.code === 'INTERNAL_SERVER_ERROR' ? undefined : FRAMEWORK_ERRORS[error.code];
  if (framework !== undefined) return { code: framework.code, level: 'info' };
  return { code: INTERNAL.code, level: 'error' };
}

/**
 * The code to record for a failed action (`{ ok: false, error }` from tRPC's `next()`): a declared or
 * security error's own code, `ERR_INPUT_INVALID`, else `ERR_INTERNAL` (output validation, a bug, a
 * constraint violation). Codes only: messages and causes stay in the server log.
 *
 * @example
 * ```ts
 * failureCodeOf(await next()); // 'TICKET_CLOSED', or null when ok
 * ```
 */
export function failureCodeOf(result: { readonly ok: boolean; readonly error?: unknown }): string | null {
  if (result.ok) return null;
  const error = result.error;
  if (error instanceof TRPCError) return describeFailure(error).code;
  if (isSecurityError(error)) return error.code;
  return INTERNAL.code;
}

/**
 * The root error formatter: wire-safe by construction. Security errors show their fixed wire text,
 * declared errors their declared text, input validation its issues; every other error is a generic
 * internal error carrying the request id, its cause left in the server log.
 */
export function formatWireError(opts: { error: TRPCError; path: string | undefined }): WireErrorShape {
  const { error } = opts;
  const requestId = requestIds.get(error) ?? randomUUID();
  const base = { httpStatus: getHTTPStatusCodeFromError(error), requestId, ...(opts.path ? { path: opts.path } : {}) };
  const shape = (code: string, message: string, extra?: { issues: ReadonlyArray<WireIssue> }): WireErrorShape => ({
    message,
    code: TRPC_ERROR_CODES_BY_KEY[error.code],
    data: { code, ...base, ...extra },
  });

  const cause = error.cause;
  if (isSecurityError(cause)) return shape(cause.wireCode, cause.wireMessage);
  if (cause instanceof DeclaredError) return shape(cause.code, cause.wireMessage);
  if (isInputValidationError(error)) {
    return shape('ERR_INPUT_INVALID', 'The input is invalid', { issues: wireIssues(cause) });
  }
  // Errors raised inside a procedure reach here as INTERNAL_SERVER_ERROR (the handle step converts
  // everything undeclared); any other code comes from tRPC's own request handling.
  const framework = error.code === 'INTERNAL_SERVER_ERROR' ? undefined : FRAMEWORK_ERRORS[error.code];
  if (framework !== undefined) return shape(framework.code, framework.message);
  return {
    message: INTERNAL.message,
    code: TRPC_ERROR_CODES_BY_KEY.INTERNAL_SERVER_ERROR,
    data: { code: INTERNAL.code, ...base, httpStatus: 500 },
  };
}

/** tRPC wraps a failed `.input()` parse as BAD_REQUEST whose cause carries the schema's issues. */
function isInputValidationError(error: TRPCError): boolean {
  return error.code === 'BAD_REQUEST' && Array.isArray((error.cause as { issues?: unknown } | undefined)?.issues);
}

function wireIssues(cause: unknown): WireIssue[] {
  const issues = (cause as { issues: ReadonlyArray<Record<string, unknown>> }).issues;
  return issues.slice(0, MAX_ISSUES).map((issue) => ({
    path: Array.isArray(issue['path'])
      ? issue['path'].filter((p): p is string | number => typeof p === 'string' || typeof p === 'number')
      : [],
    code: typeof issue['code'] === 'string' ? issue['code'] : 'invalid',
    message: typeof issue['message'] === 'string' ? issue['message'].slice(0, 200) : 'Invalid value',
  }));
}
