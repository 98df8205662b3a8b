import type { Principal } from './principal.ts';
import type { RevocationSubject } from './revocation.ts';
import { timeRuleBroken } from './time-rules.ts';
import type { TimeRules, TokenTimes } from './time-rules.ts';

/**
 * What a successful verification leaves for the next time the same token text arrives. Only the
 * verifier writes one, after every check (revocation included) has passed.
 */
export interface VerifiedTokenEntry {
  /** The frozen, registered principal; a hit returns this very object. */
  readonly principal: Principal;
  /** Built once, frozen; the revocation port is asked with it again on every hit. */
  readonly revocationSubject: RevocationSubject;
  /**
   * `exp`, `iat` and `nbf` as the token carried them (the principal holds them rounded): the time rules
   * are decided on these, as for a full verification, so a clock that goes back is no way around them.
   */
  readonly times: TokenTimes;
  /** The verifier's clock when this verification began, in ms since the epoch. */
  readonly verifiedAtMs: number;
}

/**
 * Whether a cached token still passes every time rule a full verification applies at `now`: the same
 * {@link timeRuleBroken} the full path runs after jose (which repeats jose's own `nbf`, `exp` and
 * `maxTokenAge` checks in their strictest form), so that a hit is never granted where a full verification
 * would refuse. Nothing else about a verified token changes while its verifier lives: the options are
 * frozen, a local key set is a snapshot, and trust in a remote one is bounded by the entry age.
 *
 * @example
 * ```ts
 * if (!passesTimeRules(entry, config, config.clock.now())) cache.delete(token); // then verify in full
 * ```
 */
export function passesTimeRules(entry: VerifiedTokenEntry, rules: TimeRules, now: Date): boolean {
  // jose refuses an invalid current date; so does this.
  if (!Number.isFinite(now.getTime())) return false;
  return timeRuleBroken(entry.times, rules, now) === null;
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
