import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import calculateSlot from 'cluster-key-slot';
import { Cluster, Redis } from 'ioredis';
import { SessionManager, type Principal, type SessionOptions } from '../src/index.js';
import { RedisStore } from '../src/redis/index.js';
import { manualClock } from './support/clock.js';
import { RedisCluster } from './support/redis-cluster.js';
import { redisServerSkip } from './support/redis-server.js';
import { REDIS_URL, redisSkip } from './support/services.js';

/**
 * The session cache on Redis, with two "instances" (two managers, each with
 * its own client and store, as two processes have): invalidations published
 * from inside the write scripts reach the other instance's cache before its
 * next read; a lost subscription flushes and bypasses; a late one bypasses.
 * Against the shared Redis and a real Cluster of three masters.
 */
const SECRET = 'r'.repeat(32);
const alice: Principal = { id: 'alice', roles: ['user'], authVersion: 1 };
const skip = await redisSkip();
const RUN = `keycard-cache-test:${randomBytes(4).toString('hex')}:`;
// Started before any test is declared: node:test runs what was declared before the first await.
const clusterSkip = redisServerSkip();
const cluster = clusterSkip ? null : await RedisCluster.start({ masters: 3 });
const opened: (Redis | Cluster)[] = [];
const stores: RedisStore[] = [];

after(async () => {
  for (const store of stores) await store.close();
  const cleaner = skip ? null : new Redis(REDIS_URL);
  if (cleaner) {
    const keys: string[] = [];
    for await (const batch of cleaner.scanStream({ match: `${RUN}*`, count: 500 })) keys.push(...(batch as string[]));
    if (keys.length > 0) await cleaner.unlink(...keys);
    cleaner.disconnect();
  }
  for (const client of opened) client.disconnect();
  await cluster?.stop();
});

/** Resolves once `check` holds, polling every 10 ms, or rejects after `ms`. */
async function eventually(check: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = performance.now() + ms;
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

interface Instance {
  readonly manager: SessionManager;
  readonly store: RedisStore;
  readonly client: Redis | Cluster;
}

async function instance(prefix: string, connect: () => Redis | Cluster, options: Partial<SessionOptions> = {}, subscribedWithinMs = 5000): Promise<Instance> {
  const client = connect();
  opened.push(client);
  if (client instanceof Cluster) await new Promise((resolve) => client.once('ready', resolve));
  const store = new RedisStore(client, { prefix });
  stores.push(store);
  // The default: the cache is on for Redis, standalone and Cluster.
  const manager = new SessionManager({ secrets: SECRET, store, ...options });
  // Serving only once the subscription is acknowledged.
  await eventually(() => (manager.store as { serving?: boolean }).serving === true, 'the cache feed is subscribed', subscribedWithinMs);
  return { manager, store, client };
}

async function signIn(manager: SessionManager, principal: Principal = alice): Promise<string> {
  const session = await manager.load({ secure: false });
  await session.signIn(principal);
  const headers = await manager.commit(session);
  return (headers.find(([name]) => name === 'Set-Cookie')?.[1] ?? '').split(';')[0] as string;
}

const read = (manager: SessionManager, cookie: string) => manager.load({ secure: false, cookieHeader: cookie });

function coherenceSuite(name: string, skipIt: string | false, connect: () => Redis | Cluster) {
  describe(`session cache on ${name}`, { skip: skipIt }, () => {
    const pair = async () => {
      const prefix = `${RUN}${randomBytes(3).toString('hex')}:`;
      return [await instance(prefix, connect), await instance(prefix, connect)] as const;
    };

    it('load — a cached read sends nothing to Redis; a sign-out on the other instance is seen by the very next read', async () => {
      const [a, b] = await pair();
      const cookie = await signIn(a.manager);
      assert.equal((await read(b.manager, cookie)).principal?.id, 'alice');
      for (let i = 0; i < 10; i++) assert.equal((await read(b.manager, cookie)).principal?.id, 'alice');
      assert.equal(b.manager.cacheStats()?.hits, 10);
      await (await read(a.manager, cookie)).signOut();
      // No wait: the acknowledged sign-out must be seen at once.
      assert.equal((await read(b.manager, cookie)).principal, null);
    });

    it('revokeAll, refreshPrincipal and a data write on one instance — the other sees each at its next read', async () => {
      const [a, b] = await pair();
      const user: Principal = { id: `u-${randomBytes(3).toString('hex')}`, roles: ['user'], authVersion: 1 };
      const cookie = await signIn(a.manager, user);
      await read(b.manager, cookie);
      const writer = await read(a.manager, cookie);
      writer.set('theme', 'dark');
      await a.manager.commit(writer);
      assert.equal((await read(b.manager, cookie)).get('theme'), 'dark');
      await a.manager.refreshPrincipal({ ...user, roles: ['admin'] });
      const refreshed = await read(b.manager, cookie);
      assert.deepEqual(refreshed.principal?.roles, ['admin']);
      const next = ((await b.manager.commit(refreshed)).find(([n]) => n === 'Set-Cookie')?.[1] ?? '').split(';')[0] as string;
      assert.equal((await read(a.manager, cookie)).principal, null, 'the rotated-away id is dead on the other instance');
      await read(a.manager, next);
      await read(a.manager, next);
      await b.manager.revokeAll(user.id);
      assert.equal((await read(a.manager, next)).principal, null);
    });

    it('finding #2 — a cached copy past its idle deadline does not end a session the other instance touched in Redis', async () => {
      const prefix = `${RUN}${randomBytes(3).toString('hex')}:`;
      const clock = manualClock();
      const timing = { clock, idleTimeout: 60, touchInterval: 10 };
      const a = await instance(prefix, connect, timing);
      const b = await instance(prefix, connect, timing);
      const direct = new SessionManager({ secrets: SECRET, store: b.store, cache: false, ...timing });
      const cookie = await signIn(a.manager); // A holds the record, idle deadline t0 + 60 s
      clock.advance(11_000);
      assert.equal((await read(b.manager, cookie)).principal?.id, 'alice', 'B touches Redis: its deadline is now t0 + 71 s');
      clock.advance(54_000); // t0 + 65 s: past A's cached deadline, not Redis'
      assert.equal((await read(a.manager, cookie)).principal?.id, 'alice', 'A judged from Redis, not from its stale copy');
      await new Promise((resolve) => setTimeout(resolve, 50)); // an expiry's destroy runs in the background
      assert.equal((await read(direct, cookie)).principal?.id, 'alice', "and Redis' record survived");
    });

    it('a lost subscription flushes the cache and reads go to Redis until it is back', async () => {
      const [a, b] = await pair();
      const cookie = await signIn(a.manager);
      await read(b.manager, cookie);
      await read(b.manager, cookie);
      const hits = b.manager.cacheStats()?.hits ?? 0;
      // Kill B's subscriber connections (every node): what a network blip does.
      const nodes = b.client instanceof Cluster ? b.client.nodes('master') : [b.client];
      for (const node of nodes) await node.call('CLIENT', 'KILL', 'TYPE', 'pubsub');
      await eventually(() => (b.manager.cacheStats()?.flushes ?? 0) > 0, 'the loss is noticed');
      assert.equal(b.manager.cacheStats()?.entries, 0);
      await eventually(() => (b.manager.store as { serving?: boolean }).serving === true, 'the subscription comes back (a Cluster re-subscribes 16 384 channels)', 30_000);
      await read(b.manager, cookie);
      await read(b.manager, cookie);
      assert.equal((b.manager.cacheStats()?.hits ?? 0) - hits, 1, 'one miss after the flush, then hits again');
      await (await read(a.manager, cookie)).signOut();
      assert.equal((await read(b.manager, cookie)).principal, null, 'and the restored feed delivers again');
    });

    it('a late feed (the event loop stalled past the lag bound) sends reads to Redis', async () => {
      const [a, b] = await pair();
      const cookie = await signIn(a.manager);
      await read(b.manager, cookie);
      const hits = b.manager.cacheStats()?.hits ?? 0;
      const bypassed = b.manager.cacheStats()?.bypassed ?? 0;
      const until = performance.now() + 700;
      while (performance.now() < until) {
        // A synchronous stall longer than the 500 ms lag bound: no heartbeat answered meanwhile.
      }
      assert.equal((await read(b.manager, cookie)).principal?.id, 'alice');
      assert.equal(b.manager.cacheStats()?.hits, hits, 'not served from the cache');
      assert.equal((b.manager.cacheStats()?.bypassed ?? 0) - bypassed, 1, 'asked Redis instead');
      await eventually(() => (b.manager.store as { serving?: boolean }).serving === true, 'current again after a heartbeat');
    });
  });
}

coherenceSuite('standalone Redis', skip, () => new Redis(REDIS_URL));

describe('session cache defaults on Redis', { skip: skip || clusterSkip }, () => {
  it('on by default on standalone Redis and on a Cluster; cache: false turns it off', async () => {
    const standalone = new Redis(REDIS_URL);
    const clustered = new Cluster((cluster as RedisCluster).nodes);
    opened.push(standalone, clustered);
    const a = new RedisStore(standalone, { prefix: `${RUN}d1:` });
    const b = new RedisStore(clustered, { prefix: `${RUN}d2:` });
    stores.push(a, b);
    assert.notEqual(new SessionManager({ secrets: SECRET, store: a }).cacheStats(), null);
    assert.notEqual(new SessionManager({ secrets: SECRET, store: b }).cacheStats(), null);
    assert.equal(new SessionManager({ secrets: SECRET, store: b, cache: false }).cacheStats(), null);
  });
});
coherenceSuite('a Redis Cluster of three masters (sharded pub/sub)', clusterSkip, () => new Cluster((cluster as RedisCluster).nodes));

describe('session cache on a Redis Cluster: every master', { skip: clusterSkip }, () => {
  it('sessions in slots of every master — sign-out, rotation and revokeAll on A are seen by the very next read on B', async () => {
    const prefix = `${RUN}${randomBytes(3).toString('hex')}:`;
    const connect = () => new Cluster((cluster as RedisCluster).nodes);
    const a = await instance(prefix, connect);
    const b = await instance(prefix, connect);
    const slots = (a.client as Cluster).slots;
    // Three sessions (one per kind of change) on each master, found by signing in until every master has them.
    const byMaster = new Map<string, { cookie: string; user: string }[]>();
    const full = (): boolean => byMaster.size === 3 && [...byMaster.values()].every((list) => list.length >= 3);
    for (let i = 0; !full(); i++) {
      if (i >= 300) throw new Error('no three sessions on every master after 300 sign-ins');
      const user = `m-${i}-${randomBytes(3).toString('hex')}`;
      const cookie = await signIn(a.manager, { id: user, roles: ['user'], authVersion: 1 });
      const id = (await read(a.manager, cookie)).snapshot?.id as string;
      const master = slots[calculateSlot(a.store.sessionKey(id))]?.[0] as string;
      const list = byMaster.get(master) ?? [];
      if (list.length < 3) list.push({ cookie, user });
      byMaster.set(master, list);
    }
    assert.equal(byMaster.size, 3, 'three masters');
    for (const [master, [signedOut, rotated, revoked]] of byMaster) {
      for (const { cookie } of [signedOut, rotated, revoked] as { cookie: string }[]) {
        await read(b.manager, cookie);
        const hits = b.manager.cacheStats()?.hits ?? 0;
        assert.ok((await read(b.manager, cookie)).principal, `${master}: live on B`);
        assert.equal(b.manager.cacheStats()?.hits, hits + 1, `${master}: B answers from its cache`);
      }
      await (await read(a.manager, signedOut?.cookie as string)).signOut();
      const rotating = await read(a.manager, rotated?.cookie as string);
      await rotating.rotate();
      await a.manager.commit(rotating);
      await a.manager.revokeAll(revoked?.user as string);
      // No wait: each acknowledged change must be seen at once.
      assert.equal((await read(b.manager, signedOut?.cookie as string)).principal, null, `${master}: sign-out`);
      assert.equal((await read(b.manager, rotated?.cookie as string)).principal, null, `${master}: rotation`);
      assert.equal((await read(b.manager, revoked?.cookie as string)).principal, null, `${master}: revokeAll`);
    }
  });
});

describe('session cache on a Redis Cluster: a starved process', { skip: clusterSkip }, () => {
  it('a subscription that keeps making progress is not abandoned, however long the whole takes: the feed serves under a starved event loop (16 384 channels)', async () => {
    // Each loop turn spends 100 ms in a timer, as a process sharing its cores with busier ones does: the
    // subscription's batches (256 channels each, about 22 per master) are acknowledged one turn apart,
    // so the whole takes several seconds (three masters share the loop), past the 2 s a silent node gets.
    const STALL_MS = 100;
    const hog = setInterval(() => {
      const until = performance.now() + STALL_MS;
      while (performance.now() < until) {
        // starved
      }
    }, 1);
    try {
      const started = performance.now();
      const b = await instance(`${RUN}${randomBytes(3).toString('hex')}:`, () => new Cluster((cluster as RedisCluster).nodes), {}, 30_000);
      console.log(`cluster cache feed subscribed under a starved loop in ${(performance.now() - started).toFixed(0)} ms (${STALL_MS} ms stalls)`);
      assert.equal((b.manager.store as { serving?: boolean }).serving, true);
    } finally {
      clearInterval(hog);
    }
  });
});
