/**
 * Failures counted over a sliding window, as a sliding log: each key keeps the
 * times of its most recent entries, at most `limit` of them.
 *
 * Precision: exact to the millisecond. An entry made at `t` counts while
 * `now - t < windowMs` and stops counting at `t + windowMs`; a key at its limit
 * is blocked until its oldest kept entry leaves the window, which is the
 * Retry-After. (A two-bucket window would need one number per key but could
 * only estimate that moment.)
 *
 * Memory: at most `limit` timestamps per key (8 bytes each in memory, a small
 * sorted set in Redis, a bigint[] row in SQL), and a key disappears one window
 * after its newest entry (TTL in Redis, a sweep in memory and SQL).
 */

/** At most `limit` entries within any `windowMs` milliseconds. */
export interface RateLimitRule {
  /** A positive integer. */
  readonly limit: number;
  /** Milliseconds, positive. */
  readonly windowMs: number;
}

export interface RateLimitState {
  /** Entries still in the window (made after `now - windowMs`), never more than `limit`. */
  readonly count: number;
  /**
   * Time of the oldest of those entries (ms since the epoch), or null when
   * `count` is 0. When `count` has reached `limit`, the key is blocked until
   * `oldestAt + windowMs`.
   */
  readonly oldestAt: number | null;
}

export interface RateLimitResult extends RateLimitState {
  /** Whether this call recorded an entry at `now` (and so is allowed through). */
  readonly allowed: boolean;
}

/**
 * Where counters live. Times are milliseconds since the epoch, passed in by
 * the caller (stores never read a clock, so tests inject one). Keys are opaque
 * strings chosen by the policy (`LoginThrottle` hashes them). Each call is
 * atomic on its key: concurrent `consume` calls never admit more than `limit`.
 * Rejections are backend failures; `LoginThrottle` turns them into
 * `StoreUnavailableError` (fail closed: HTTP 503, never an unlimited sign-in).
 * Implementations run `describeRateLimitStore` from `keycard/testing`.
 */
export interface RateLimitStore {
  /**
   * Drops entries older than the window; then, when fewer than `limit`
   * remain, records one at `now` (`allowed: true`), otherwise records nothing
   * (`allowed: false`): a refused attempt never extends a block, so nobody can
   * be locked out for longer than one window. Returns the state afterwards.
   */
  consume(key: string, now: number, rule: RateLimitRule): Promise<RateLimitResult>;

  /** The state at `now`, recording nothing. Unknown keys give `{ count: 0, oldestAt: null }`. */
  peek(key: string, now: number, rule: RateLimitRule): Promise<RateLimitState>;

  /**
   * Removes one entry recorded at exactly `at` (a refund of a `consume` that
   * turned out not to be a failure). Returns whether one was removed.
   */
  release(key: string, at: number): Promise<boolean>;

  /** Forgets the key entirely. */
  reset(key: string): Promise<void>;

  /** Releases what the store opened itself (timers); never closes a client it was given. */
  close(): Promise<void>;
}

/**
 * The state of a log at `now`: entries after `now - windowMs` (future ones
 * from a peer with a skewed clock included), the newest `limit` of them.
 * `times` must be sorted ascending.
 */
export function windowState(times: readonly number[], now: number, rule: RateLimitRule): { kept: number[]; state: RateLimitState } {
  const floor = now - rule.windowMs;
  const inWindow = times.filter((t) => t > floor);
  const kept = inWindow.slice(Math.max(0, inWindow.length - rule.limit));
  return { kept, state: { count: kept.length, oldestAt: kept[0] ?? null } };
}
