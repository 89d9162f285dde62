import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { LoginThrottle, StoreUnavailableError, type ThrottleDecision } from '../src/index.js';
import { RedisRateLimitStore } from '../src/redis/index.js';
import { describeRateLimitStore } from '../src/testing/index.js';
import { manualClock } from './support/clock.js';
import { RedisServer, redisServerSkip } from './support/redis-server.js';
import { REDIS_URL, redisSkip } from './support/services.js';

const skip = await redisSkip();
// Unique per run: the Redis server is shared with other suites and engineers.
const prefix = `keycard:test:rl:${randomBytes(6).toString('hex')}:`;
const clients: Redis[] = [];

function client(): Redis {
  const redis = new Redis(REDIS_URL, { lazyConnect: false, maxRetriesPerRequest: 1 });
  clients.push(redis);
  return redis;
}

async function cleanup(): Promise<void> {
  const redis = clients[0];
  if (redis) {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
  }
  await Promise.all(clients.splice(0).map((c) => c.quit()));
}

describeRateLimitStore('redis', () => new RedisRateLimitStore(clients[0] ?? client(), { prefix }), {
  skip,
  teardown: cleanup,
});

function allowed(decision: ThrottleDecision): boolean {
  return decision.allowed;
}

describe('RedisRateLimitStore', { skip }, () => {
  let redis: Redis;
  before(() => {
    redis = client();
  });
  after(cleanup);

  it('consume — always sets a TTL: until the newest entry leaves its window', async () => {
    const store = new RedisRateLimitStore(redis, { prefix });
    const now = Date.now();
    await store.consume('ttl', now, { limit: 2, windowMs: 60_000 });
    const first = await redis.pttl(`${prefix}ttl`);
    assert.ok(first > 59_000 && first <= 60_000, `pttl ${first}`);
    // An entry from a peer whose clock is 30 s ahead keeps the key 30 s longer.
    await store.consume('ttl', now + 30_000, { limit: 2, windowMs: 60_000 });
    await store.consume('ttl', now, { limit: 3, windowMs: 60_000 });
    const second = await redis.pttl(`${prefix}ttl`);
    assert.ok(second > 89_000 && second <= 90_000, `pttl ${second}`);
    // A refused consume writes nothing new but still leaves a TTL on the key.
    await redis.persist(`${prefix}ttl`);
    assert.equal((await store.consume('ttl', now + 31_000, { limit: 2, windowMs: 60_000 })).allowed, false);
    assert.ok((await redis.pttl(`${prefix}ttl`)) > 0);
  });

  it('consume — one sorted set of at most `limit` members per key', async () => {
    const store = new RedisRateLimitStore(redis, { prefix });
    const now = Date.now();
    for (let i = 0; i < 20; i++) await store.consume('bounded', now + i, { limit: 4, windowMs: 60_000 });
    assert.equal(await redis.type(`${prefix}bounded`), 'zset');
    assert.equal(await redis.zcard(`${prefix}bounded`), 4);
  });

  it('consume — works after the server forgets its scripts (EVALSHA falls back to EVAL)', { skip: redisServerSkip(), timeout: 15_000 }, async () => {
    // SCRIPT FLUSH is server-wide, so it runs on a private redis-server, not the shared one.
    const server = await RedisServer.start();
    const own = new Redis(server.url, { maxRetriesPerRequest: 1 });
    try {
      const store = new RedisRateLimitStore(own, { prefix });
      const now = Date.now();
      await store.consume('flushed', now, { limit: 2, windowMs: 60_000 });
      await own.script('FLUSH');
      assert.deepEqual(await store.consume('flushed', now, { limit: 2, windowMs: 60_000 }), {
        allowed: true,
        count: 2,
        oldestAt: now,
      });
    } finally {
      own.disconnect();
      await server.stop();
    }
  });

  it('LoginThrottle — two instances with separate clients on one Redis share counts', async () => {
    const clock = manualClock();
    const options = { clock, maxAttempts: 3, window: 900 };
    const a = new LoginThrottle({ ...options, store: new RedisRateLimitStore(client(), { prefix }) });
    const b = new LoginThrottle({ ...options, store: new RedisRateLimitStore(client(), { prefix }) });
    assert.equal(allowed(await a.check('shared@example.com', '203.0.113.1')), true);
    assert.equal(allowed(await b.check('shared@example.com', '203.0.113.2')), true);
    assert.equal(allowed(await a.check('shared@example.com', '203.0.113.3')), true);
    const refused = await b.check('shared@example.com', '203.0.113.4');
    assert.deepEqual(refused, { allowed: false, retryAfterSeconds: 900, scope: 'account' });
    clock.advance(900_000);
    assert.equal(allowed(await b.check('shared@example.com', '203.0.113.4')), true);
  });

  it('LoginThrottle — concurrent attempts from two instances never get past the limit', async () => {
    const clock = manualClock();
    const options = { clock, maxAttempts: 5 };
    const a = new LoginThrottle({ ...options, store: new RedisRateLimitStore(client(), { prefix }) });
    const b = new LoginThrottle({ ...options, store: new RedisRateLimitStore(client(), { prefix }) });
    const decisions = await Promise.all(
      Array.from({ length: 30 }, (_, i) => (i % 2 ? a : b).check('burst@example.com', `198.51.100.${i}`)),
    );
    assert.equal(decisions.filter(allowed).length, 5);
  });

  it('LoginThrottle — stores no email or address in Redis, only hashed keys', async () => {
    const throttle = new LoginThrottle({ store: new RedisRateLimitStore(redis, { prefix: `${prefix}privacy:` }) });
    await throttle.check('Secret.Person@example.com', '192.0.2.77');
    const keys = await redis.keys(`${prefix}privacy:*`);
    assert.equal(keys.length, 2);
    for (const key of keys) {
      assert.match(key, /^keycard:test:rl:[0-9a-f]+:privacy:login:(a|ip):[A-Za-z0-9_-]{43}$/);
      const members = await redis.zrange(key, '0', '-1');
      for (const text of [key, ...members]) {
        assert.ok(!/person|example|192\.0/i.test(text), text);
      }
    }
  });

  it('LoginThrottle — fails closed with StoreUnavailableError when Redis is unreachable', async () => {
    // A real client to a port nothing listens on, failing fast instead of queueing.
    const down = new Redis({ host: '127.0.0.1', port: 1, lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => null });
    down.on('error', () => {});
    const throttle = new LoginThrottle({ store: new RedisRateLimitStore(down), storeTimeout: 500 });
    await assert.rejects(throttle.check('anyone@example.com', '192.0.2.1'), (error: unknown) => {
      assert.ok(error instanceof StoreUnavailableError);
      assert.equal(error.code, 'KEYCARD_STORE_UNAVAILABLE');
      assert.ok(!error.message.includes('anyone'));
      return true;
    });
    down.disconnect();
  });
});
