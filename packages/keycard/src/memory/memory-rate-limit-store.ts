import { systemClock, type Clock } from '../core/clock.js';
import { windowState, type RateLimitResult, type RateLimitRule, type RateLimitState, type RateLimitStore } from '../throttle/rate-limit-store.js';
import { positiveIntegerOption, sweepIntervalOption } from '../core/store-support.js';
import { sweepEvery, sweepExpired } from '../core/sweep.js';

export interface MemoryRateLimitStoreOptions {
  /** Most keys kept; past it the least recently written key is dropped. Default 100 000. */
  readonly maxKeys?: number;
  /** Seconds between sweeps of keys whose every entry has left its window. Default 60; 0 disables the timer. */
  readonly sweepInterval?: number;
  /** Clock used by the sweeper. Default: the system clock. */
  readonly clock?: Clock;
}

interface Entry {
  /** Ascending, at most `limit` long. */
  readonly times: readonly number[];
  /** When the newest entry leaves its window: the key is dead from then on. */
  readonly expiresAt: number;
}

/**
 * Counters in this process only: for development, tests and single-instance
 * apps. Bounded by `maxKeys` and swept by one unref'd timer. Dropping the least
 * recently written key when full is the eviction with the least effect: with
 * one window per throttle it is also the key that expires first. An attacker
 * who could make `maxKeys` distinct keys could push a victim's counter out; the
 * per-IP limit makes that cost many addresses, and shared stores have no cap.
 */
export class MemoryRateLimitStore implements RateLimitStore {
  private readonly entries = new Map<string, Entry>();
  private readonly maxKeys: number;
  private readonly clock: Clock;
  private readonly timer: NodeJS.Timeout | undefined;

  constructor(options: MemoryRateLimitStoreOptions = {}) {
    this.maxKeys = positiveIntegerOption('MemoryRateLimitStore', 'maxKeys', options.maxKeys, 100_000);
    this.clock = options.clock ?? systemClock;
    this.timer = sweepEvery(sweepIntervalOption('MemoryRateLimitStore', options.sweepInterval, 60), () => this.sweep());
  }

  /** Keys held, dead ones included until the next sweep. */
  get size(): number {
    return this.entries.size;
  }

  /** Removes every key whose entries have all left their window at `now`; returns how many. */
  sweep(now = this.clock.now()): number {
    return sweepExpired(this.entries, now, (key) => this.entries.delete(key));
  }

  async consume(key: string, now: number, rule: RateLimitRule): Promise<RateLimitResult> {
    const { kept, state } = windowState(this.entries.get(key)?.times ?? [], now, rule);
    const allowed = state.count < rule.limit;
    if (allowed) insertSorted(kept, now);
    this.put(key, kept, rule.windowMs);
    return { allowed, count: kept.length, oldestAt: kept[0] ?? null };
  }

  async peek(key: string, now: number, rule: RateLimitRule): Promise<RateLimitState> {
    return windowState(this.entries.get(key)?.times ?? [], now, rule).state;
  }

  async release(key: string, at: number): Promise<boolean> {
    const entry = this.entries.get(key);
    const index = entry?.times.indexOf(at) ?? -1;
    if (!entry || index < 0) return false;
    const times = entry.times.filter((_, i) => i !== index);
    if (times.length === 0) this.entries.delete(key);
    else this.entries.set(key, { times, expiresAt: entry.expiresAt });
    return true;
  }

  async reset(key: string): Promise<void> {
    this.entries.delete(key);
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
  }

  private put(key: string, times: number[], windowMs: number): void {
    // Re-inserting moves the key to the end of the Map, so the first key is the least recently written.
    if (!this.entries.delete(key) && this.entries.size >= this.maxKeys) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
    if (times.length === 0) return;
    this.entries.set(key, { times, expiresAt: (times[times.length - 1] ?? 0) + windowMs });
  }
}

/** Keeps `times` ascending; entries arrive in order unless a caller's clock went back. */
function insertSorted(times: number[], at: number): void {
  let i = times.length;
  while (i > 0 && (times[i - 1] ?? 0) > at) i--;
  times.splice(i, 0, at);
}
