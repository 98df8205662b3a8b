import { describe, expect, it } from 'vitest';
import { TRPCError } from '@trpc/server';
import * as z from 'zod';
import { AuditUnavailableError } from '@covenant/core';
import { AccessDeniedError, DeclaredError, TenancyKeyInInputError } from '../src/errors.ts';
import { describeFailure, formatWireError, rememberRequestId } from '../src/wire-error.ts';

const format = (error: TRPCError, path = 'tickets.create') => formatWireError({ error, path });

describe('formatWireError', () => {
  it('shows a security error by its wire code and fixed wire message, with the request id of the call', () => {
    const error = new TRPCError({ code: 'FORBIDDEN', cause: new AccessDeniedError('authz.missing_capability', 'tickets.write') });
    rememberRequestId(error, '11111111-1111-4111-8111-111111111111');
    expect(format(error)).toEqual({
      message: 'The caller is not allowed to perform this operation',
      code: -32003,
      data: { code: 'ERR_AUTHZ_DENIED', httpStatus: 403, requestId: '11111111-1111-4111-8111-111111111111', path: 'tickets.create' },
    });
  });

  it('shows a declared error with its declared message and status', () => {
    const shape = format(new TRPCError({ code: 'CONFLICT', cause: new DeclaredError('DUPLICATE_TITLE', 409, 'Already open') }));
    expect(shape).toMatchObject({ message: 'Already open', data: { code: 'DUPLICATE_TITLE', httpStatus: 409 } });
  });

  it('turns every other error into a generic internal error: no message, stack, SQL or cause on the wire', () => {
    const cause = new Error('duplicate key value violates unique constraint "users_email_key" (email)=(x@example.com)');
    for (const error of [
      new TRPCError({ code: 'INTERNAL_SERVER_ERROR', cause }),
      new TRPCError({ code: 'INTERNAL_SERVER_ERROR', message: 'Output validation failed', cause }),
      new TRPCError({ code: 'UNAUTHORIZED', message: 'token eyJhbGciOi... is bad' }),
    ]) {
      const shape = format(error);
      const text = JSON.stringify(shape);
      expect(shape.data.code).toBe('ERR_INTERNAL');
      expect(shape.data.httpStatus).toBe(500);
      expect(shape.message).toBe('Internal server error');
      for (const leak of ['users_email_key', 'x@example.com', 'Output validation', 'eyJ', 'stack', ' at ']) expect(text).not.toContain(leak);
      expect(shape.data.requestId).toMatch(/^[0-9a-f-]{36}$/);
    }
  });

  it('replaces the messages of tRPC’s own request errors with fixed ones', () => {
    expect(format(new TRPCError({ code: 'NOT_FOUND', message: 'No procedure found on path "secret.thing"' }))).toMatchObject({
      message: 'No such procedure',
      data: { code: 'ERR_PROCEDURE_NOT_FOUND', httpStatus: 404 },
    });
    expect(format(new TRPCError({ code: 'PARSE_ERROR', message: 'Unexpected token s in JSON: secret' }))).toMatchObject({
      message: 'The request body is not valid JSON',
      data: { code: 'ERR_REQUEST_MALFORMED', httpStatus: 400 },
    });
  });

  it('reports input validation issues with paths and zod’s messages, capped at 20', () => {
    const result = z.strictObject({ a: z.array(z.number()) }).safeParse({ a: Array.from({ length: 30 }, () => 'x'), b: 1 });
    expect(result.success).toBe(false);
    const shape = format(new TRPCError({ code: 'BAD_REQUEST', cause: result.error }));
    expect(shape.data.code).toBe('ERR_INPUT_INVALID');
    expect(shape.data.issues).toHaveLength(20);
    expect(shape.data.issues?.[0]).toEqual({ path: ['a', 0], code: 'invalid_type', message: expect.any(String) });
  });

  it('gives a tenancy refusal its explaining message', () => {
    const shape = format(new TRPCError({ code: 'BAD_REQUEST', cause: new TenancyKeyInInputError('ticket.orgId') }));
    expect(shape).toMatchObject({ data: { code: 'ERR_TENANCY_KEY_IN_INPUT', httpStatus: 400 } });
    expect(shape.message).toMatch(/"ticket\.orgId" is not accepted: the tenant comes from the verified session/);
  });

  it('maps an unavailable audit to 503', () => {
    expect(format(new TRPCError({ code: 'SERVICE_UNAVAILABLE', cause: new AuditUnavailableError() })).data).toMatchObject({
      code: 'ERR_AUDIT_UNAVAILABLE',
      httpStatus: 503,
    });
  });
});

describe('describeFailure', () => {
  it('logs refusals with their code and faults at error level', () => {
    expect(describeFailure(new TRPCError({ code: 'FORBIDDEN', cause: new AccessDeniedError('x', 'a.b') }))).toEqual({
      code: 'ERR_AUTHZ_DENIED',
      level: 'warn',
    });
    expect(describeFailure(new TRPCError({ code: 'SERVICE_UNAVAILABLE', cause: new AuditUnavailableError() })).level).toBe('error');
    expect(describeFailure(new TRPCError({ code: 'INTERNAL_SERVER_ERROR', cause: new Error('x') }))).toEqual({
      code: 'ERR_INTERNAL',
      level: 'error',
    });
  });
});
