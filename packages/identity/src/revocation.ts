import { isClock, systemClock, type Clock } from '@covenant/core';
/**
 * The claims a revocation check decides on. They are read from the verified payload, not from the
 * token text, so re-encoding a revoked token (other base64 bytes, re-serialised JSON, a fresh
 * signature over the same claims) cannot slip past the check.
 */
export interface RevocationSubject {
  readonly issuer: string;
  readonly subject: string;
  readonly session: string | null;
  readonly tokenId: string | null;
  /** `iat` in whole seconds (rounded down, so a cut-off counts a token as issued before it rather than after). */
  readonly issuedAt: number;
  /**
   * The tenant the token was issued for. A revocation made by a tenant's administrator applies to that
   * tenant's tokens only (see `@covenant/identity/revocation-store`), so a guessed `sid` of another org
   * revokes nothing there.
   */
  readonly tenant: { readonly org: string; readonly workspace: string | null };
}

/**
 * The port a verifier asks after the signature and the claims have passed. An implementation that
 * throws, rejects or answers anything but a boolean makes verification fail closed with
 * `RevocationUnavailableError` (503).
 *
 * @example
 * ```ts
 * const revocation: RevocationCheck = {
 *   isRevoked: async ({ tokenId }) => tokenId !== null && (await redis.exists(`revoked:${tokenId}`)) === 1,
 * };
 * createTokenVerifier({ …, revocation });
 * ```
 */
export interface RevocationCheck {
  isRevoked(token: RevocationSubject): boolean | Promise<boolean>;
}

/** An in-process revocation list: the default implementation of {@link RevocationCheck}. */
export interface MemoryRevocationList extends RevocationCheck {
  /** Revokes one token by `jti`. The entry is dropped once the token could no longer verify anyway. */
  revokeToken(tokenId: string, expiresAt: Date): void;
  /** Revokes every token carrying this `sid`. */
  revokeSession(session: string): void;
  /** Revokes every token of `subject` issued before `before`. */
  revokeSubject(subject: string, before: Date): void;
}

export interface MemoryRevocationListOptions {
  /** Injected time, used to drop expired `jti` entries. Defaults to the system clock. */
  readonly clock?: Clock;
}

/**
 * A revoked `jti` is kept this long past its token's `exp`, so a token still inside the largest clock
 * tolerance a verifier accepts (300 s) stays revoked.
 */
const EXPIRY_MARGIN_MS = 300_000;

/**
 * Creates an in-memory revocation list. It suits a single process and tests; several processes need a
 * shared store behind the same {@link RevocationCheck} port (`@covenant/identity/revocation-store`).
 * Entries are keyed by claim value within one issuer and are not confined to a tenant: give each issuer
 * its own list, and use the persistent store where tenants' administrators revoke.
 *
 * @example
 * ```ts
 * const revocations = createMemoryRevocationList();
 * const verifier = createTokenVerifier({ …, revocation: revocations });
 * revocations.revokeSubject('user_1', new Date()); // password changed: every older token is refused
 * ```
 */
export function createMemoryRevocationList(options: MemoryRevocationListOptions = {}): MemoryRevocationList {
  const clock = options.clock ?? systemClock;
  if (!isClock(clock)) throw new TypeError('createMemoryRevocationList: "clock" must be a Clock (an object with a now() method)');
  const tokens = new Map<string, number>();
  const sessions = new Set<string>();
  const subjects = new Map<string, number>();

  const prune = (): void => {
    const now = clock.now().getTime();
    for (const [tokenId, keepUntil] of tokens) if (keepUntil <= now) tokens.delete(tokenId);
  };

  return Object.freeze({
    revokeToken(tokenId: string, expiresAt: Date): void {
      requireId('revokeToken', 'tokenId', tokenId);
      requireDate('revokeToken', 'expiresAt', expiresAt);
      prune();
      const keepUntil = expiresAt.getTime() + EXPIRY_MARGIN_MS;
      tokens.set(tokenId, Math.max(keepUntil, tokens.get(tokenId) ?? keepUntil));
    },
    revokeSession(session: string): void {
      requireId('revokeSession', 'session', session);
      sessions.add(session);
    },
    revokeSubject(subject: string, before: Date): void {
      requireId('revokeSubject', 'subject', subject);
      requireDate('revokeSubject', 'before', before);
      subjects.set(subject, Math.max(before.getTime(), subjects.get(subject) ?? Number.NEGATIVE_INFINITY));
    },
    isRevoked(token: RevocationSubject): boolean {
      if (token.tokenId !== null && tokens.has(token.tokenId)) return true;
      if (token.session !== null && sessions.has(token.session)) return true;
      const before = subjects.get(token.subject);
      if (before !== undefined && token.issuedAt * 1000 < before) return true;
      return false;
    },
  });
}

function requireId(method: string, name: string, value: unknown): void {
  if (typeof value !== 'string' || value === '') {
    throw new TypeError(`MemoryRevocationList.${method}: "${name}" must be a non-empty string`);
  }
}

function requireDate(method: string, name: string, value: unknown): void {
  if (!(value instanceof Date) || Number.isNaN(value.getTime())) {
    throw new TypeError(`MemoryRevocationList.${method}: "${name}" must be a valid Date`);
  }
}
