import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { freshStores } from './fixtures.js';
import type { RateLimitRule, RateLimitStore } from '../throttle/rate-limit-store.js';
import type { ConformanceOptions } from './conformance.js';

export type RateLimitConformanceOptions = Pick<ConformanceOptions, 'skip' | 'teardown'>;

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const RULE: RateLimitRule = { limit: 3, windowMs: 15 * MINUTE };

/** A key no other test (or other engineer's suite on a shared server) uses. */
function freshKey(): string {
  return `conformance:${randomBytes(9).toString('base64url')}`;
}

/**
 * The behaviour every `RateLimitStore` must have, as one suite each store runs
 * unchanged: `describeRateLimitStore('redis', () => makeStore())`. Times are
 * passed in, so windows slide without sleeping; they start at the wall clock
 * because stores with TTLs (Redis) read the backend's real time.
 */
export function describeRateLimitStore(
  name: string,
  makeStore: () => RateLimitStore | Promise<RateLimitStore>,
  options: RateLimitConformanceOptions = {},
): void {
  describe(`${name} rate-limit store conformance`, { skip: options.skip || false }, () => {
    const fresh = freshStores(makeStore, options.teardown);

    it('consume — admits up to the limit, counting and reporting the oldest entry', async () => {
      const store = await fresh();
      const key = freshKey();
      const t0 = Date.now();
      assert.deepEqual(await store.consume(key, t0, RULE), { allowed: true, count: 1, oldestAt: t0 });
      assert.deepEqual(await store.consume(key, t0 + SECOND, RULE), { allowed: true, count: 2, oldestAt: t0 });
      assert.deepEqual(await store.consume(key, t0 + 2 * SECOND, RULE), { allowed: true, count: 3, oldestAt: t0 });
    });

    it('consume — refuses at the limit and records nothing, so a block is never extended', async () => {
      const store = await fresh();
      const key = freshKey();
      const t0 = Date.now();
      for (let i = 0; i < 3; i++) await store.consume(key, t0 + i * SECOND, RULE);
      for (let i = 1; i <= 5; i++) {
        assert.deepEqual(await store.consume(key, t0 + i * MINUTE, RULE), { allowed: false, count: 3, oldestAt: t0 });
      }
      // The first entry leaves the window at t0 + 15 min exactly, and only it.
      const reopened = t0 + RULE.windowMs;
      assert.deepEqual(await store.consume(key, reopened, RULE), { allowed: true, count: 3, oldestAt: t0 + SECOND });
      assert.equal((await store.consume(key, reopened, RULE)).allowed, false);
    });

    it('consume — the window slides: entries stop counting one window after they were made', async () => {
      const store = await fresh();
      const key = freshKey();
      const t0 = Date.now();
      await store.consume(key, t0, RULE);
      await store.consume(key, t0 + 10 * MINUTE, RULE);
      assert.deepEqual(await store.peek(key, t0 + RULE.windowMs - 1, RULE), { count: 2, oldestAt: t0 });
      assert.deepEqual(await store.peek(key, t0 + RULE.windowMs, RULE), { count: 1, oldestAt: t0 + 10 * MINUTE });
      assert.deepEqual(await store.consume(key, t0 + 30 * MINUTE, RULE), {
        allowed: true,
        count: 1,
        oldestAt: t0 + 30 * MINUTE,
      });
    });

    it('consume — concurrent calls on one key never admit more than the limit', async () => {
      const store = await fresh();
      const key = freshKey();
      const now = Date.now();
      const rule = { limit: 5, windowMs: MINUTE };
      const results = await Promise.all(Array.from({ length: 40 }, () => store.consume(key, now, rule)));
      assert.equal(results.filter((r) => r.allowed).length, 5);
      assert.deepEqual(await store.peek(key, now, rule), { count: 5, oldestAt: now });
    });

    it('consume — keys are independent', async () => {
      const store = await fresh();
      const [a, b] = [freshKey(), freshKey()];
      const now = Date.now();
      for (let i = 0; i < 3; i++) await store.consume(a, now, RULE);
      assert.equal((await store.consume(a, now, RULE)).allowed, false);
      assert.deepEqual(await store.consume(b, now, RULE), { allowed: true, count: 1, oldestAt: now });
    });

    it('consume — keeps at most `limit` entries, the newest, when the limit is lowered', async () => {
      const store = await fresh();
      const key = freshKey();
      const t0 = Date.now();
      for (let i = 0; i < 3; i++) await store.consume(key, t0 + i * SECOND, RULE);
      const lowered = { limit: 2, windowMs: RULE.windowMs };
      assert.deepEqual(await store.peek(key, t0 + 3 * SECOND, lowered), { count: 2, oldestAt: t0 + SECOND });
      assert.deepEqual(await store.consume(key, t0 + 3 * SECOND, lowered), {
        allowed: false,
        count: 2,
        oldestAt: t0 + SECOND,
      });
    });

    it('consume — an entry from a peer whose clock is ahead still counts', async () => {
      const store = await fresh();
      const key = freshKey();
      const now = Date.now();
      await store.consume(key, now + 5 * SECOND, RULE);
      assert.deepEqual(await store.consume(key, now, RULE), { allowed: true, count: 2, oldestAt: now });
      assert.deepEqual(await store.peek(key, now, RULE), { count: 2, oldestAt: now });
    });

    it('peek — reports the window without recording', async () => {
      const store = await fresh();
      const key = freshKey();
      const now = Date.now();
      assert.deepEqual(await store.peek(key, now, RULE), { count: 0, oldestAt: null });
      await store.consume(key, now, RULE);
      for (let i = 0; i < 5; i++) assert.deepEqual(await store.peek(key, now, RULE), { count: 1, oldestAt: now });
    });

    it('release — removes one entry made at that time, and only one', async () => {
      const store = await fresh();
      const key = freshKey();
      const t0 = Date.now();
      await store.consume(key, t0, RULE);
      await store.consume(key, t0 + SECOND, RULE);
      await store.consume(key, t0 + SECOND, RULE);
      assert.equal(await store.release(key, t0 + SECOND), true);
      assert.deepEqual(await store.peek(key, t0 + SECOND, RULE), { count: 2, oldestAt: t0 });
      assert.equal(await store.release(key, t0), true);
      assert.deepEqual(await store.peek(key, t0 + SECOND, RULE), { count: 1, oldestAt: t0 + SECOND });
    });

    it('release — returns false for an unknown key or time', async () => {
      const store = await fresh();
      const key = freshKey();
      const now = Date.now();
      assert.equal(await store.release(key, now), false);
      await store.consume(key, now, RULE);
      assert.equal(await store.release(key, now + 1), false);
      assert.deepEqual(await store.peek(key, now, RULE), { count: 1, oldestAt: now });
    });

    it('release — a released slot can be consumed again', async () => {
      const store = await fresh();
      const key = freshKey();
      const now = Date.now();
      for (let i = 0; i < 3; i++) await store.consume(key, now, RULE);
      await store.release(key, now);
      assert.deepEqual(await store.consume(key, now + 1, RULE), { allowed: true, count: 3, oldestAt: now });
    });

    it('reset — forgets the key, and only that key', async () => {
      const store = await fresh();
      const [key, other] = [freshKey(), freshKey()];
      const now = Date.now();
      for (let i = 0; i < 3; i++) await store.consume(key, now, RULE);
      await store.consume(other, now, RULE);
      await store.reset(key);
      assert.deepEqual(await store.peek(key, now, RULE), { count: 0, oldestAt: null });
      assert.equal((await store.consume(key, now, RULE)).allowed, true);
      assert.deepEqual(await store.peek(other, now, RULE), { count: 1, oldestAt: now });
    });

    it('reset — an unknown key is fine', async () => {
      const store = await fresh();
      await store.reset(freshKey());
    });
  });
}
