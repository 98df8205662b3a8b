import { expect } from 'vitest';
import { isCovenantError, type CovenantClientError } from '@covenant/client';

/** The error a typed-client call fails with; fails the test if the call succeeds. */
export async function refusal(call: Promise<unknown>): Promise<CovenantClientError> {
  const outcome = await call.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
  if (!('error' in outcome)) throw new Error(`expected a refusal, got ${JSON.stringify(outcome.value)}`);
  expect(isCovenantError(outcome.error)).toBe(true);
  return outcome.error as CovenantClientError;
}

/** A refusal with this status and code, carrying a request id (the handle into the server log and ledger). */
export async function expectRefused(call: Promise<unknown>, httpStatus: number, code: string): Promise<CovenantClientError> {
  const error = await refusal(call);
  expect({ httpStatus: error.httpStatus, code: error.code }).toEqual({ httpStatus, code });
  expect(error.requestId).toMatch(/^[0-9a-f-]{36}$/);
  return error;
}
