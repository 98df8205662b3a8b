/** The time claims of a verified payload, exactly as the token carried them (finite numbers). */
export interface TokenTimes {
  readonly exp: number;
  readonly iat: number;
  /** `null` when the token has no `nbf`. */
  readonly nbf: number | null;
}

/** The verifier options the time rules depend on. */
export interface TimeRules {
  readonly clockToleranceSeconds: number;
  readonly maxTokenAgeSeconds: number | null;
  readonly maxLifetimeSeconds: number;
}

/** Which time rule a token breaks (see {@link timeRuleBroken}). */
export type TimeRule = 'nbf' | 'exp' | 'iat_future' | 'iat_age' | 'lifetime';

/**
 * The principal's times, as integers whatever the token said (a NumericDate may be fractional, RFC 7519
 * §2). Both are rounded DOWN, which is the conservative side of every use of them: an earlier `exp`
 * expires the token sooner; an earlier `iat` makes the token older (a maximum age is reached sooner), its
 * lifetime longer (the lifetime cap refuses sooner), and "issued before" a revocation cut-off more often.
 * The rules that an earlier `iat` would loosen (an `iat` in the future) are decided on the token's own
 * value, never on the rounded one.
 *
 * @example
 * ```ts
 * wholeSeconds({ exp: 1_900_000_300.9, iat: 1_900_000_000.2, nbf: null }); // { expiresAt: 1_900_000_300, issuedAt: 1_900_000_000 }
 * ```
 */
export function wholeSeconds(times: TokenTimes): { readonly expiresAt: number; readonly issuedAt: number } {
  return { expiresAt: Math.floor(times.exp), issuedAt: Math.floor(times.iat) };
}

/**
 * The first time rule the token breaks at `now`, or `null`. One function for the full verification (after
 * jose) and for a cached token (ADR 0012), so both decide alike at every instant. It repeats jose 6's own
 * checks in jose's form (whole seconds of `now`, the same tolerance) on the rounded times where that is
 * stricter, so nothing jose would refuse can pass here:
 *
 * - `nbf`: `nbf > now + tolerance` (jose's rule, on the token's value);
 * - `exp`: `floor(exp) <= now - tolerance`: the principal's `expiresAt` is what expires;
 * - `iat_future`: `iat` after now (unrounded) plus the tolerance; with a maximum age also jose's
 *   whole-second form of it;
 * - `iat_age`: `now - floor(iat) - tolerance > maxTokenAgeSeconds`;
 * - `lifetime`: `exp - iat > maxLifetimeSeconds`. With `iat` at most now plus the tolerance, that also
 *   keeps `exp` within `maxLifetimeSeconds` plus the tolerance from now: no token reaches further, however
 *   its issuer set `iat`.
 *
 * `now` must be a valid date (jose refuses another before this is asked).
 *
 * @example
 * ```ts
 * timeRuleBroken({ exp: 1e300, iat: now, nbf: null }, rules, new Date(now * 1000)); // 'lifetime'
 * ```
 */
export function timeRuleBroken(times: TokenTimes, rules: TimeRules, now: Date): TimeRule | null {
  const nowMs = now.getTime();
  const nowSeconds = Math.floor(nowMs / 1000); // jose's epoch()
  const exactNow = nowMs / 1000;
  const tolerance = rules.clockToleranceSeconds;
  const { expiresAt, issuedAt } = wholeSeconds(times);
  if (times.nbf !== null && times.nbf > nowSeconds + tolerance) return 'nbf';
  if (expiresAt <= nowSeconds - tolerance) return 'exp';
  if (times.iat > exactNow + tolerance) return 'iat_future';
  if (rules.maxTokenAgeSeconds !== null) {
    if (nowSeconds - issuedAt - tolerance > rules.maxTokenAgeSeconds) return 'iat_age';
    if (nowSeconds - times.iat < -tolerance) return 'iat_future';
  }
  if (times.exp - times.iat > rules.maxLifetimeSeconds) return 'lifetime';
  return null;
}
