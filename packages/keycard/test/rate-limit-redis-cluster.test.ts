import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { Cluster } from 'ioredis';
import { LoginThrottle } from '../src/index.js';
import { RedisRateLimitStore } from '../src/redis/index.js';
import { describeRateLimitStore } from '../src/testing/index.js';
import { manualClock } from './support/clock.js';
import { RedisCluster } from './support/redis-cluster.js';
import { redisServerSkip } from './support/redis-server.js';

// A real cluster of three masters, started by this file and stopped in teardown:
// every script touches one key, so it must run unchanged whatever slot the key has.
const skip = redisServerSkip();
const servers = skip ? null : await RedisCluster.start({ masters: 3 });
const clients: Cluster[] = [];

function client(): Cluster {
  if (!servers) throw new Error('no cluster');
  const cluster = new Cluster(servers.nodes);
  clients.push(cluster);
  return cluster;
}

const prefix = `rl${randomBytes(3).toString('hex')}:`;

describeRateLimitStore('redis cluster', () => new RedisRateLimitStore(clients[0] ?? client(), { prefix }), { skip });

after(async () => {
  for (const cluster of clients.splice(0)) cluster.disconnect();
  await servers?.stop();
});

describe('LoginThrottle on a Redis Cluster', { skip }, () => {
  it('LoginThrottle — account and address keys on different slots, shared by two instances', async () => {
    const clock = manualClock();
    const options = { clock, maxAttempts: 3, maxAttemptsPerIp: 4 };
    const own = `${prefix}throttle:`;
    const cluster = client();
    const a = new LoginThrottle({ ...options, store: new RedisRateLimitStore(cluster, { prefix: own }) });
    const b = new LoginThrottle({ ...options, store: new RedisRateLimitStore(client(), { prefix: own }) });
    const decisions = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? a : b).check('c@example.com', '192.0.2.1')));
    assert.equal(decisions.filter((d) => d.allowed).length, 3);
    // The refused account attempts gave the address its slots back: one left of four.
    assert.equal((await a.check('d@example.com', '192.0.2.1')).allowed, true);
    assert.equal((await b.check('e@example.com', '192.0.2.1')).allowed, false);
    const keys = (await Promise.all(cluster.nodes('master').map((node) => node.keys(`${own}*`)))).flat();
    assert.equal(keys.length, 3, keys.join(', '));
    const slots = new Set(await Promise.all(keys.map(async (key) => Number(await cluster.cluster('KEYSLOT', key)))));
    assert.ok(slots.size >= 2, `keys on ${slots.size} slot(s)`);
  });
});
