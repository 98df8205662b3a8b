import { SecurityError } from '@covenant/core';
import { describe, expect, it } from 'vitest';
import {
  AlgorithmNotAllowedError,
  ClaimInvalidError,
  DuplicateMemberError,
  HeaderExtensionRefusedError,
  IdentityError,
  KeyNotFoundError,
  KeysUnavailableError,
  PayloadTooDeepError,
  RevocationUnavailableError,
  SignatureInvalidError,
  TenantClaimInvalidError,
  TokenExpiredError,
  TokenLifetimeError,
  TokenMalformedError,
  TokenMissingError,
  TokenNotYetValidError,
  TokenRevokedError,
  TokenTooLargeError,
  TokenTypeInvalidError,
  isIdentityError,
} from './errors.ts';
import type { IdentityErrorCode, IdentityWireCode } from './errors.ts';

/** The whole table: precise code, status, and the only code a client sees. */
const TABLE: ReadonlyArray<[IdentityError, IdentityErrorCode, 401 | 503, IdentityWireCode]> = [
  [new TokenMissingError(), 'ERR_IDENTITY_TOKEN_MISSING', 401, 'ERR_IDENTITY_TOKEN_MISSING'],
  [new TokenMalformedError('x'), 'ERR_IDENTITY_TOKEN_MALFORMED', 401, 'ERR_IDENTITY_TOKEN_INVALID'],
  [new TokenTooLargeError(8192), 'ERR_IDENTITY_TOKEN_TOO_LARGE', 401, 'ERR_IDENTITY_TOKEN_INVALID'],
  [new TokenExpiredError('exp'), 'ERR_IDENTITY_TOKEN_EXPIRED', 401, 'ERR_IDENTITY_TOKEN_EXPIRED'],
  [new TokenNotYetValidError(), 'ERR_IDENTITY_TOKEN_NOT_YET_VALID', 401, 'ERR_IDENTITY_TOKEN_INVALID'],
  [new SignatureInvalidError(), 'ERR_IDENTITY_SIGNATURE_INVALID', 401, 'ERR_IDENTITY_TOKEN_INVALID'],
  [new AlgorithmNotAllowedError(), 'ERR_IDENTITY_ALGORITHM_NOT_ALLOWED', 401, 'ERR_IDENTITY_TOKEN_INVALID'],
  [new KeyNotFoundError('no_matching_key'), 'ERR_IDENTITY_KEY_NOT_FOUND', 401, 'ERR_IDENTITY_TOKEN_INVALID'],
  [new ClaimInvalidError('aud', 'mismatch'), 'ERR_IDENTITY_CLAIM_INVALID', 401, 'ERR_IDENTITY_TOKEN_INVALID'],
  [new DuplicateMemberError('payload', 'sub'), 'ERR_IDENTITY_DUPLICATE_MEMBER', 401, 'ERR_IDENTITY_TOKEN_INVALID'],
  [new PayloadTooDeepError('payload', 8), 'ERR_IDENTITY_PAYLOAD_TOO_DEEP', 401, 'ERR_IDENTITY_TOKEN_INVALID'],
  [
    new TenantClaimInvalidError('org', 'invalid'),
    'ERR_IDENTITY_TENANT_CLAIM_INVALID',
    401,
    'ERR_IDENTITY_TOKEN_INVALID',
  ],
  [new TokenTypeInvalidError('not_accepted'), 'ERR_IDENTITY_TOKEN_TYPE_INVALID', 401, 'ERR_IDENTITY_TOKEN_INVALID'],
  [
    new HeaderExtensionRefusedError('crit'),
    'ERR_IDENTITY_HEADER_EXTENSION_REFUSED',
    401,
    'ERR_IDENTITY_TOKEN_INVALID',
  ],
  [new TokenLifetimeError(86_400), 'ERR_IDENTITY_TOKEN_LIFETIME_EXCEEDED', 401, 'ERR_IDENTITY_TOKEN_INVALID'],
  [new TokenRevokedError(), 'ERR_IDENTITY_TOKEN_REVOKED', 401, 'ERR_IDENTITY_TOKEN_REVOKED'],
  [new KeysUnavailableError('timeout'), 'ERR_IDENTITY_KEYS_UNAVAILABLE', 503, 'ERR_IDENTITY_KEYS_UNAVAILABLE'],
  [
    new RevocationUnavailableError(),
    'ERR_IDENTITY_REVOCATION_UNAVAILABLE',
    503,
    'ERR_IDENTITY_REVOCATION_UNAVAILABLE',
  ],
];

describe('identity errors', () => {
  it.each(TABLE)('%o has its code, status and wire code', (error, code, status, wireCode) => {
    expect(error).toBeInstanceOf(IdentityError);
    expect(error).toBeInstanceOf(SecurityError);
    expect(isIdentityError(error)).toBe(true);
    expect(error.code).toBe(code);
    expect(error.status).toBe(status);
    expect(error.wireCode).toBe(wireCode);
    expect(error.name).toBe(error.constructor.name);
  });

  it('gives every 401 that is not missing, expired or revoked the same wire code and message', () => {
    const invalid = TABLE.filter(([, , , wire]) => wire === 'ERR_IDENTITY_TOKEN_INVALID').map(([e]) => e);
    expect(invalid).toHaveLength(13);
    expect(new Set(invalid.map((e) => e.wireMessage)).size).toBe(1);
  });

  it('has one precise code per class', () => {
    expect(new Set(TABLE.map(([, code]) => code)).size).toBe(TABLE.length);
  });

  it('names the claim in the message', () => {
    expect(new ClaimInvalidError('aud', 'mismatch').message).toBe('the "aud" claim does not match');
    expect(new TenantClaimInvalidError('org', 'missing').message).toContain('"org"');
  });

  it('keeps the cause of an outage for the log', () => {
    const cause = new Error('connect ECONNREFUSED');
    expect(new KeysUnavailableError('fetch_failed', { cause }).cause).toBe(cause);
  });

  it('does not take other errors for identity errors', () => {
    expect(isIdentityError(new Error('x'))).toBe(false);
    expect(isIdentityError({ code: 'ERR_IDENTITY_TOKEN_MISSING', status: 401 })).toBe(false);
  });
});
