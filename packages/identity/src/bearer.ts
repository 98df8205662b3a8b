import { TokenMalformedError, TokenMissingError } from './errors.ts';

/**
 * `Bearer`, any case (RFC 7235 §2.1: the scheme is case-insensitive), exactly one space, then one
 * b64token (RFC 6750 §2.1). No second token, no comma list, no surrounding whitespace. The pattern
 * is linear: the token class excludes `=`, so the two repetitions cannot overlap.
 */
const BEARER = /^[Bb][Ee][Aa][Rr][Ee][Rr] ([A-Za-z0-9\-._~+/]+=*)$/;

/**
 * Takes the token out of an Authorization header value.
 *
 * Throws {@link TokenMissingError} when there is no header (or it is empty) and
 * {@link TokenMalformedError} for anything that is not exactly `Bearer <token>`: another scheme, two
 * spaces, a tab, trailing whitespace, several tokens, or a header repeated into an array.
 *
 * @example
 * ```ts
 * parseBearer('Bearer eyJhbGciOi…'); // 'eyJhbGciOi…'
 * parseBearer('bearer eyJhbGciOi…'); // 'eyJhbGciOi…'
 * parseBearer(undefined); // throws TokenMissingError
 * parseBearer('Bearer a, Bearer b'); // throws TokenMalformedError
 * ```
 */
export function parseBearer(header: string | undefined): string {
  if (header === undefined || header === '') throw new TokenMissingError();
  if (typeof header !== 'string') {
    throw new TokenMalformedError('the Authorization header is not a single string');
  }
  const match = BEARER.exec(header);
  if (match === null || match[1] === undefined) {
    throw new TokenMalformedError('the Authorization header is not exactly "Bearer <token>"');
  }
  return match[1];
}
