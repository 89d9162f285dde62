import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { addressBucket, InvalidOptionsError, MemoryRateLimitStore, RateLimiter, type RateLimiterOptions } from '../src/index.js';
import { manualClock } from './support/clock.js';

const SECOND = 1000;

function setup(options: Partial<RateLimiterOptions> = {}) {
  const clock = manualClock();
  const store = new MemoryRateLimitStore({ sweepInterval: 0 });
  const limiter = new RateLimiter({ store, clock, limit: 3, window: 60, namespace: 'register', ...options });
  return { clock, store, limiter };
}

// Finding 2 of issue 13: registrations had no per-address limit (REGISTER_MAX_PER_IP).
describe('RateLimiter', () => {
  it('consume — admits `limit` actions per key in the window, then refuses with the seconds left', async () => {
    const { limiter, clock } = setup();
    for (let i = 0; i < 3; i++) assert.deepEqual(await limiter.consume('192.0.2.1'), { allowed: true });
    clock.advance(15 * SECOND);
    assert.deepEqual(await limiter.consume('192.0.2.1'), { allowed: false, retryAfterSeconds: 45 });
    assert.deepEqual(await limiter.consume('192.0.2.2'), { allowed: true }, 'keys are separate');
    clock.advance(45 * SECOND);
    assert.deepEqual(await limiter.consume('192.0.2.1'), { allowed: true });
  });

  it('consume — a refusal is not counted, so a block never outlasts one window', async () => {
    const { limiter, clock } = setup({ limit: 1 });
    await limiter.consume('k');
    for (let i = 0; i < 10; i++) {
      clock.advance(5 * SECOND);
      assert.equal((await limiter.consume('k')).allowed, false);
    }
    clock.advance(10 * SECOND);
    assert.equal((await limiter.consume('k')).allowed, true);
  });

  it('consume — unparsable addresses share one key through addressBucket', async () => {
    const { limiter } = setup({ limit: 2 });
    await limiter.consume(addressBucket('junk-a'));
    await limiter.consume(addressBucket('junk-b'));
    assert.equal((await limiter.consume(addressBucket('junk-c'))).allowed, false);
  });

  it('two limiters with different namespaces on one store keep separate counts', async () => {
    const { store, clock, limiter } = setup({ limit: 1 });
    const other = new RateLimiter({ store, clock, limit: 1, window: 60, namespace: 'other' });
    await limiter.consume('k');
    assert.equal((await other.consume('k')).allowed, true);
  });

  it('constructor — refuses missing or invalid options with messages that name them', () => {
    assert.throws(() => new RateLimiter({ limit: 0, window: 60, namespace: 'x' }), /rate limiter limit must be a positive integer, got 0/);
    assert.throws(() => new RateLimiter({ limit: 1, window: -1, namespace: 'x' }), /rate limiter window must be a positive number/);
    assert.throws(() => new RateLimiter({ limit: 1, window: 1, namespace: 'has space' }), InvalidOptionsError);
  });
});
