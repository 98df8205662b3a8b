export { parseBearer } from './bearer.ts';
export {
  AlgorithmNotAllowedError,
  ClaimInvalidError,
  DuplicateMemberError,
  HeaderExtensionRefusedError,
  IdentityError,
  KeyNotFoundError,
  KeysUnavailableError,
  PayloadTooDeepError,
  PrincipalUnknownError,
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
export type { ClaimIssue, IdentityErrorCode, IdentityWireCode, KeysUnavailableReason } from './errors.ts';
export { isVerifiedPrincipal } from './principal.ts';
export type { Principal } from './principal.ts';
export { createMemoryRevocationList } from './revocation.ts';
export type {
  MemoryRevocationList,
  MemoryRevocationListOptions,
  RevocationCheck,
  RevocationSubject,
} from './revocation.ts';
export { parseStrictJsonObject } from './strict-json.ts';
export type { StrictJsonIssue, StrictJsonOptions, StrictJsonResult } from './strict-json.ts';
export { ASYMMETRIC_ALGORITHMS } from './verifier-options.ts';
export type {
  AsymmetricAlgorithm,
  LocalKeySetOptions,
  RemoteKeySetOptions,
  TenantClaimNames,
  TokenVerifierOptions,
  VerifiedTokenCacheOptions,
  VerifierLogger,
} from './verifier-options.ts';
export { createTokenVerifier } from './verify-token.ts';
export type { TokenVerifier } from './verify-token.ts';
