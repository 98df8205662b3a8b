export { createTestIssuer } from './test-issuer.ts';
export type {
  DefaultClaim,
  MintOptions,
  PublicKeyForm,
  TestAlgorithm,
  TestClaims,
  TestIssuer,
  TestIssuerOptions,
  TestVerifierOptions,
  TokenForgeries,
} from './test-issuer.ts';
