import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { RedisStore } from 'connect-redis';
import { createClient } from 'redis';
import { ConnectStoreAdapter } from '../src/index.js';
import { describeSessionStore, sampleRecord } from '../src/testing/index.js';
import { REDIS_URL, redisSkip } from './support/services.js';

// The Redis is shared: every key this file writes carries its own random prefix, and only those are removed.
const PREFIX = `kc-connect-redis-test:${randomBytes(6).toString('hex')}:`;
const MINUTE = 60_000;

const skip = await redisSkip();
const client = createClient({ url: REDIS_URL });
client.on('error', () => undefined);
if (!skip) await client.connect();

// After every suite of the file, not just the conformance one.
after(async () => {
  if (skip) return;
  const keys: string[] = [];
  for await (const batch of client.scanIterator({ MATCH: `${PREFIX}*`, COUNT: 200 })) keys.push(...batch);
  if (keys.length > 0) await client.del(keys);
  await client.close();
});

const adapter = () => new ConnectStoreAdapter(new RedisStore({ client, prefix: PREFIX }));

describeSessionStore('connect-redis', adapter, {
  skip,
  lacks: ['perUserIndex', 'atomicUpdate'],
});

describe('ConnectStoreAdapter on connect-redis', { skip }, () => {
  it('create/find — the Redis TTL follows the record’s expiry, and a touch extends it', async () => {
    const store = adapter();
    const now = Date.now();
    const record = sampleRecord({ idleExpiresAt: now + 30 * MINUTE, absoluteExpiresAt: now + 60 * MINUTE });
    await store.create(record);
    const ttl = await client.pTTL(PREFIX + record.id);
    assert.ok(ttl > 30 * MINUTE - 5000 && ttl <= 30 * MINUTE + 1000, `ttl ${ttl}`);
    await store.find(record.id, now + 10 * MINUTE, 0);
    const touched = await client.pTTL(PREFIX + record.id);
    assert.ok(touched > 40 * MINUTE - 5000 && touched <= 40 * MINUTE + 1000, `ttl after touch ${touched}`);
  });

  it('destroy — removes the Redis key', async () => {
    const store = adapter();
    const record = sampleRecord();
    await store.create(record);
    assert.equal(await client.exists(PREFIX + record.id), 1);
    assert.equal(await store.destroy(record.id), true);
    assert.equal(await client.exists(PREFIX + record.id), 0);
  });

  it('find — a second adapter (another process) reads what the first wrote', async () => {
    const record = sampleRecord({ data: { cart: [1, 2] } });
    await adapter().create(record);
    assert.deepEqual(await adapter().find(record.id, record.lastSeenAt, Infinity), record);
  });
});
