import type { Principal } from './principal.ts';
import type { RevocationSubject } from './revocation.ts';

/**
 * What a successful verification leaves for the next time the same token text arrives. Only the
 * verifier writes one, after every check (revocation included) has passed.
 */
export interface VerifiedTokenEntry {
  /** The frozen, registered principal; a hit returns this very object. */
  readonly principal: Principal;
  /** Built once, frozen; the revocation port is asked with it again on every hit. */
  readonly revocationSubject: RevocationSubject;
  /** `nbf` of the verified payload, or `null`: a clock that goes back must not skip it. */
  readonly notBefore: number | null;
  /** The verifier's clock when this verification began, in ms since the epoch. */
  readonly verifiedAtMs: number;
}

/** The verifier options the time rules depend on. */
export interface TimeRules {
  readonly clockToleranceSeconds: number;
  readonly maxTokenAgeSeconds: number | null;
}

/** Which time rule a verified token breaks at some instant (see {@link timeRuleBroken}). */
export type TimeRule = 'nbf' | 'exp' | 'iat' | 'age';

/**
 * The first time rule a verified token breaks at `now`, or `null` when it passes them all: jose's `nbf`,
 * `exp` and `maxTokenAge` checks, written as jose 6 writes them (whole seconds, the same tolerance), and
 * the verifier's own future-`iat` rule. Nothing else about a verified token changes while its verifier
 * lives: the options are frozen, a local key set is a snapshot, and trust in a remote one is bounded by
 * the entry age. An invalid `now` breaks `exp` (jose refuses an invalid current date too).
 *
 * @example
 * ```ts
 * timeRuleBroken(entry, config, config.clock()); // 'exp' once the token has expired
 * ```
 */
export function timeRuleBroken(entry: Pick<VerifiedTokenEntry, 'principal' | 'notBefore'>, rules: TimeRules, now: Date): TimeRule | null {
  const nowMs = now.getTime();
  if (!Number.isFinite(nowMs)) return 'exp';
  const nowSeconds = Math.floor(nowMs / 1000); // jose's epoch()
  const tolerance = rules.clockToleranceSeconds;
  const { expiresAt, issuedAt } = entry.principal;
  if (entry.notBefore !== null && entry.notBefore > nowSeconds + tolerance) return 'nbf';
  if (expiresAt <= nowSeconds - tolerance) return 'exp';
  if (issuedAt === null) return rules.maxTokenAgeSeconds === null ? null : 'age'; // jose requires `iat` when an age is set
  // The verifier's rule (principalFields), on the unrounded time.
  if (issuedAt > nowMs / 1000 + tolerance) return 'iat';
  if (rules.maxTokenAgeSeconds !== null) {
    const age = nowSeconds - issuedAt;
    if (age - tolerance > rules.maxTokenAgeSeconds || age < -tolerance) return 'age';
  }
  return null;
}

/**
 * Whether a cached token still passes every time rule a full verification applies at `now`
 * ({@link timeRuleBroken} finds none).
 *
 * @example
 * ```ts
 * if (!passesTimeRules(entry, config, config.clock())) cache.delete(token); // then verify in full
 * ```
 */
export function passesTimeRules(entry: VerifiedTokenEntry, rules: TimeRules, now: Date): boolean {
  return timeRuleBroken(entry, rules, now) === null;
}

/**
 * A bounded map from exact token text to its verification. Internal to `@covenant/identity`: it is
 * not exported from the package entry point; the verifier owns one per instance.
 *
 * @example
 * ```ts
 * const cache = createVerifiedTokenCache({ maxEntries: 10_000, maxAgeMs: 60_000 });
 * cache.set(token, entry);
 * cache.get(token, Date.now()); // entry, for up to 60 s
 * ```
 */
export interface VerifiedTokenCache {
  /**
   * The entry for this exact token while it is younger than `maxAgeMs` at `nowMs`, and marks it as
   * the most recently used. An older entry (or one from the future: the clock went back) is dropped.
   */
  get(token: string, nowMs: number): VerifiedTokenEntry | undefined;
  /** Stores an entry, first dropping the least recently used ones so the size stays within `maxEntries`. */
  set(token: string, entry: VerifiedTokenEntry): void;
  delete(token: string): void;
  /** How many entries are held; never more than `maxEntries`. */
  readonly size: number;
}

/**
 * Creates an empty cache. The limits are taken as given: `resolveVerifierOptions` validates them.
 *
 * @example
 * ```ts
 * const cache = createVerifiedTokenCache({ maxEntries: 2, maxAgeMs: 60_000 });
 * ```
 */
export function createVerifiedTokenCache(limits: {
  readonly maxEntries: number;
  readonly maxAgeMs: number;
}): VerifiedTokenCache {
  const { maxEntries, maxAgeMs } = limits;
  // A Map iterates in insertion order: re-inserting on use makes its first key the least recently used.
  const entries = new Map<string, VerifiedTokenEntry>();

  return Object.freeze({
    get(token: string, nowMs: number): VerifiedTokenEntry | undefined {
      const entry = entries.get(token);
      if (entry === undefined) return undefined;
      entries.delete(token);
      const age = nowMs - entry.verifiedAtMs;
      // Written so that a NaN time fails too.
      if (!(age >= 0 && age < maxAgeMs)) return undefined;
      entries.set(token, entry);
      return entry;
    },
    set(token: string, entry: VerifiedTokenEntry): void {
      entries.delete(token);
      while (entries.size >= maxEntries) {
        const oldest = entries.keys().next();
        if (oldest.done === true) break;
        entries.delete(oldest.value);
      }
      entries.set(token, entry);
    },
    delete(token: string): void {
      entries.delete(token);
    },
    get size(): number {
      return entries.size;
    },
  });
}
