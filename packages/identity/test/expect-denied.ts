import { expect } from 'vitest';
import { IdentityError } from '../src/errors.ts';
import type { IdentityErrorCode } from '../src/errors.ts';

/** A claim value no error message may ever contain. */
export const SECRET_SUB = 'subject-value-7f3a';
/** An org value no error message may ever contain. */
export const SECRET_ORG = 'org-value-9c1d';

/**
 * Awaits a verification that must be denied and checks the denial: the exact error class, its
 * precise `code` and `status`, and that neither `message` nor `wireMessage` carries the token (or any
 * of its segments) or one of the given claim values. Returns the error for further checks.
 */
export async function expectDenied<E extends IdentityError>(
  attempt: Promise<unknown>,
  errorClass: abstract new (...args: never[]) => E,
  expected: { readonly code: IdentityErrorCode; readonly status: 401 | 503 },
  leaks: ReadonlyArray<string | undefined> = [],
): Promise<E> {
  let caught: unknown;
  try {
    await attempt;
  } catch (error) {
    caught = error;
  }
  expect(caught, 'the attempt must be denied').toBeInstanceOf(errorClass);
  const error = caught as E;
  expect(error.code).toBe(expected.code);
  expect(error.status).toBe(expected.status);
  const forbidden = [SECRET_SUB, SECRET_ORG];
  for (const leak of leaks) {
    if (leak === undefined || leak === '') continue;
    forbidden.push(leak);
    // Every segment of a token is as sensitive as the token (the payload alone is the claims).
    for (const segment of leak.split('.')) if (segment.length >= 8) forbidden.push(segment);
  }
  for (const text of forbidden) {
    expect(error.message).not.toContain(text);
    expect(error.wireMessage).not.toContain(text);
  }
  return error;
}
