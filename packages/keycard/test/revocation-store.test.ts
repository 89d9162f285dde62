import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { MemoryRevocationStore, type RevocationStore } from '../src/index.js';
import { RedisRevocationStore } from '../src/redis/index.js';
import { manualClock } from './support/clock.js';
import { REDIS_URL, redisSkip } from './support/services.js';

/** What every RevocationStore does, with a fresh store (and its own keys) per test. */
function describeRevocationStore(name: string, make: () => RevocationStore, options: { skip?: string | false } = {}): void {
  describe(`RevocationStore: ${name}`, { skip: options.skip }, () => {
    const user = () => `user-${randomBytes(6).toString('hex')}`;
    const session = () => `session-${randomBytes(6).toString('hex')}`;

    it('check — a user never bumped is at epoch 0, a session never revoked is not revoked', async () => {
      assert.deepEqual(await make().check(user(), session()), { epoch: 0, revoked: false });
    });

    it('bumpEpoch — sets the user’s epoch, and check sees it (other users unchanged)', async () => {
      const store = make();
      const [a, b] = [user(), user()];
      const at = Date.now();
      await store.bumpEpoch(a, at, 60_000);
      assert.equal((await store.check(a, session())).epoch, at);
      await store.bumpEpoch(a, at + 5, 60_000);
      assert.equal((await store.check(a, session())).epoch, at + 5);
      assert.equal((await store.check(b, session())).epoch, 0);
    });

    it('revoke — marks one session until the given time', async () => {
      const store = make();
      const [one, other] = [session(), session()];
      await store.revoke(one, Date.now() + 60_000);
      assert.equal((await store.check(user(), one)).revoked, true);
      assert.equal((await store.check(user(), other)).revoked, false);
    });
  });
}

describeRevocationStore('memory', () => new MemoryRevocationStore());

const skip = await redisSkip();
const prefix = `kc-revocation-test:${randomBytes(6).toString('hex')}:`;
const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
if (!skip) await redis.connect();
after(async () => {
  if (skip) return;
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  await redis.quit();
});
describeRevocationStore('redis', () => new RedisRevocationStore(redis, { prefix }), { skip });

describe('RedisRevocationStore keys', { skip }, () => {
  it('the epoch lives as long as asked, a revocation marker until its session would expire', async () => {
    const store = new RedisRevocationStore(redis, { prefix });
    await store.bumpEpoch('u-ttl', Date.now(), 90_000);
    const ttl = await redis.pttl(`${prefix}epoch:u-ttl`);
    assert.ok(ttl > 85_000 && ttl <= 90_000, `epoch ttl ${ttl}`);
    await store.revoke('s-ttl', Date.now() + 30_000);
    const markerTtl = await redis.pttl(`${prefix}revoked:s-ttl`);
    assert.ok(markerTtl > 25_000 && markerTtl <= 30_000, `marker ttl ${markerTtl}`);
  });
});

describe('MemoryRevocationStore', () => {
  it('forgets an epoch after keepFor and a marker after its time (the sessions they end have expired by then)', async () => {
    const clock = manualClock();
    const store = new MemoryRevocationStore(clock);
    await store.bumpEpoch('u', clock.now(), 1000);
    await store.revoke('s', clock.now() + 1000);
    clock.advance(1000);
    assert.deepEqual(await store.check('u', 's'), { epoch: 0, revoked: false });
  });
});
