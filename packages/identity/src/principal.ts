import type { Principal } from '@covenant/core';

/**
 * Who is calling, as proven by a verified token (the `Principal` of @covenant/core). Every field comes from
 * a signed claim; nothing here comes from what the caller sends in a request body. Only the verifier makes
 * one (deeply frozen); check a value with {@link isVerifiedPrincipal} before trusting it.
 *
 * @example
 * ```ts
 * const principal: Principal = await verifier.verify(token);
 * db.tickets.list({ org: principal.tenant.org }); // the tenant comes from the token, never the input
 * ```
 */
export type { Principal };

/**
 * The principals this package produced. A WeakSet, not a brand property: a brand can be copied onto an
 * object literal, membership cannot. Module-private; only {@link registerVerifiedPrincipal} adds to it.
 */
const VERIFIED: WeakSet<Principal> = new WeakSet();

/**
 * Whether a value is a principal produced by this package's token verifier. An object literal with the
 * same shape, a spread copy or a deserialised principal is not: the server uses this to refuse forged
 * contexts (for example one passed to a tRPC `createCaller`).
 *
 * @example
 * ```ts
 * const principal = await verifier.verify(token);
 * isVerifiedPrincipal(principal); // true
 * isVerifiedPrincipal({ ...principal }); // false
 * ```
 */
export function isVerifiedPrincipal(value: unknown): value is Principal {
  return typeof value === 'object' && value !== null && VERIFIED.has(value as Principal);
}

/**
 * Freezes the fields into a principal and records it as verified.
 *
 * Internal to `@covenant/identity`: the token verifier calls it after every check has passed. It is not
 * exported from the package entry point and the package `exports` map does not expose this file, so
 * no other package can mint a verified principal without a token this package verified.
 *
 * @example
 * ```ts
 * // inside verify-token.ts, after signature, claims and revocation checks:
 * return registerVerifiedPrincipal({ subject, tenant: { org, workspace }, … });
 * ```
 */
export function registerVerifiedPrincipal(fields: Principal): Principal {
  const principal: Principal = Object.freeze({
    subject: fields.subject,
    tenant: Object.freeze({ org: fields.tenant.org, workspace: fields.tenant.workspace }),
    session: fields.session,
    tokenId: fields.tokenId,
    issuer: fields.issuer,
    issuedAt: fields.issuedAt,
    expiresAt: fields.expiresAt,
  });
  VERIFIED.add(principal);
  return principal;
}
