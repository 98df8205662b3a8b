/**
 * The one clock shape of Covenant: every component that reads the time takes a `Clock`, so that tests (and
 * a deployment that wants a monotonic source) inject one. Instants are `Date`s; nothing reads
 * `Date.now()` behind the clock's back.
 */
export interface Clock {
  now(): Date;
}

/** The wall clock. */
export const systemClock: Clock = Object.freeze({ now: () => new Date() });

/** Whether `value` can serve as a clock (an object with a `now` method): options are checked with it. */
export function isClock(value: unknown): value is Clock {
  return typeof value === 'object' && value !== null && typeof (value as { now?: unknown }).now === 'function';
}
