/** The tenant a principal acts in: always the verified token's, never the request body's. */
export interface Tenant {
  readonly org: string;
  readonly workspace: string | null;
}

/**
 * A verified caller. Only an identity verifier (`@covenant/identity`) produces one; the server refuses any
 * other object of this shape (`isVerifiedPrincipal` there).
 */
export interface Principal {
  /** `sub`: the subject, unique within the issuer. */
  readonly subject: string;
  /** The tenant the token was issued for: the org claim and, when present, the workspace claim. */
  readonly tenant: Tenant;
  /** `sid`: the session the token belongs to, when the issuer names one. */
  readonly session: string | null;
  /** `jti`: the token's own id, when the issuer sets one. */
  readonly tokenId: string | null;
  /** `iss`, equal to the verifier's configured issuer. */
  readonly issuer: string;
  /** `iat` in whole seconds since the epoch (rounded down: the conservative side; `iat` is required). */
  readonly issuedAt: number;
  /** `exp` in whole seconds since the epoch (rounded down: the token counts as expired no later). */
  readonly expiresAt: number;
}
