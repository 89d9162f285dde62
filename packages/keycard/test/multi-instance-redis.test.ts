import { after } from 'node:test';
import { Redis } from 'ioredis';
import { describeMultiInstance } from './support/multi-instance.js';
import { REDIS_URL, redisSkip } from './support/services.js';

// Three real app processes (Express, Fastify, Express) on the shared Redis, under a key prefix of their own.
const skip = await redisSkip();
const prefix = `kc-multi-${process.pid}-${Date.now()}:`;

after(async () => {
  if (skip) return;
  // Leave nothing behind on the shared server (every key has a TTL anyway).
  const redis = new Redis(REDIS_URL);
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
});

describeMultiInstance('three app processes sharing one Redis', {
  skip,
  platforms: ['express', 'fastify', 'express'],
  store: () => ({ kind: 'redis', url: REDIS_URL, prefix }),
});
