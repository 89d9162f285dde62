import { createHash } from 'node:crypto';
import { systemClock, type Clock } from '../core/clock.js';
import { withDeadline } from '../core/deadline.js';
import { InvalidOptionsError } from '../core/errors.js';
import type { SessionEvents } from '../core/events.js';
import { MemoryRateLimitStore } from '../memory/memory-rate-limit-store.js';
import type { RateLimitRule, RateLimitStore } from './rate-limit-store.js';

export interface RateLimiterOptions {
  /** Where counters live (share one between instances). Default: a `MemoryRateLimitStore`. */
  readonly store?: RateLimitStore;
  /** Actions allowed per key within `window`. Required. */
  readonly limit: number;
  /** Seconds. Required. */
  readonly window: number;
  /** Prefix of the store keys; distinct from every other limiter and throttle on the store. Required. */
  readonly namespace: string;
  /** Milliseconds to wait for the store before failing with `StoreUnavailableError`. Default 1000. */
  readonly storeTimeout?: number;
  readonly clock?: Clock;
  /** Where store outages are reported (`storeUnavailable`). Default: none. */
  readonly events?: SessionEvents;
}

export type RateLimitDecision =
  | { readonly allowed: true }
  | {
      readonly allowed: false;
      /** Whole seconds until the next action is admitted (at least 1): the `Retry-After` value. */
      readonly retryAfterSeconds: number;
    };

const NAMESPACE = /^[A-Za-z0-9_.-]{1,64}$/;

function positive(name: string, value: unknown, integer: boolean): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || (integer && !Number.isInteger(value))) {
    throw new InvalidOptionsError(`keycard: rate limiter ${name} must be ${integer ? 'a positive integer' : 'a positive number'}, got ${String(value)}`);
  }
  return value;
}

/**
 * A plain sliding-window limit on any action, keyed by what the caller
 * names (registrations per client address, e-mails sent per account): at
 * most `limit` per `window` seconds, on the same stores and with the same
 * precision as `LoginThrottle`. Keys are stored as SHA-256 hashes. Every
 * `consume` counts, allowed or not is the answer; a refused one is not
 * counted, so a block never outlasts one window. Fails closed: a store
 * outage rejects with `StoreUnavailableError` (503), never admits.
 *
 * For client addresses pass `addressBucket(ip)`, so an IPv6 /64 is one key
 * and unparsable addresses share one.
 */
export class RateLimiter {
  readonly rule: RateLimitRule;
  private readonly store: RateLimitStore;
  private readonly ownsStore: boolean;
  private readonly namespace: string;
  private readonly storeTimeoutMs: number;
  private readonly clock: Clock;
  private readonly events: SessionEvents | undefined;

  constructor(options: RateLimiterOptions) {
    if (typeof options.namespace !== 'string' || !NAMESPACE.test(options.namespace)) {
      throw new InvalidOptionsError('keycard: rate limiter namespace must be 1–64 characters of A-Z a-z 0-9 _ . -');
    }
    this.rule = Object.freeze({
      limit: positive('limit', options.limit, true),
      windowMs: Math.round(positive('window', options.window, false) * 1000),
    });
    this.storeTimeoutMs = options.storeTimeout === undefined ? 1000 : positive('storeTimeout', options.storeTimeout, false);
    this.namespace = options.namespace;
    this.ownsStore = options.store === undefined;
    this.store = options.store ?? new MemoryRateLimitStore();
    this.clock = options.clock ?? systemClock;
    this.events = options.events;
  }

  /** Counts one action for `key` when it is within the limit; otherwise refuses with the seconds to wait. */
  async consume(key: string): Promise<RateLimitDecision> {
    const now = this.clock.now();
    const storeKey = `${this.namespace}:${createHash('sha256').update(key).digest('base64url')}`;
    const result = await withDeadline(this.store.consume(storeKey, now, this.rule), this.storeTimeoutMs, 'consume', 'rate-limit store', () =>
      this.events?.emit({ type: 'storeUnavailable', handle: null, userId: null, at: now, reason: 'rate-limit store: consume' }),
    );
    if (result.allowed) return { allowed: true };
    const until = (result.oldestAt ?? now) + this.rule.windowMs;
    return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((until - now) / 1000)) };
  }

  /** Closes the store only when the limiter made it (the default memory store). */
  async close(): Promise<void> {
    if (this.ownsStore) await this.store.close();
  }
}
