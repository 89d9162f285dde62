import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { Cluster } from 'ioredis';
import { SessionManager, WriteNotDurableError } from '../src/index.js';
import { RedisStore } from '../src/redis/index.js';
import { describeSessionStore, samplePrincipal, sampleRecord } from '../src/testing/index.js';
import { healthApp } from './support/health-app.js';
import { expectKeycardError, expectStatus, startApp, type Client, type HttpResult } from './support/http.js';
import { watchProcessFailures, within } from './support/poll.js';
import { RedisCluster, type ClusterShard } from './support/redis-cluster.js';
import { redisCommand, redisServerSkip, type RedisServer } from './support/redis-server.js';

// A real cluster of 3 masters and 3 replicas, started by this file; one master is killed under load.
const skip = redisServerSkip();
const NODE_TIMEOUT = 1000;
const startedAt = performance.now();
const servers = skip ? null : await RedisCluster.start({ masters: 3, replicas: 1, nodeTimeoutMs: NODE_TIMEOUT, readyTimeoutMs: 30_000 });
if (servers) console.log(`redis cluster (3 masters + 3 replicas) ready in ${(performance.now() - startedAt).toFixed(0)} ms`);

const STORE_TIMEOUT = 1000;
const MARGIN = 500;
const FAILOVER_BOUND = 30_000;

/** The Cluster settings RedisStoreOptions recommends for fast failure. */
async function clusterClient(): Promise<Cluster> {
  const client = new Cluster((servers as RedisCluster).nodes, {
    lazyConnect: true,
    enableOfflineQueue: false,
    clusterRetryStrategy: (attempt) => Math.min(attempt * 100, 500),
    redisOptions: { maxRetriesPerRequest: 0, connectTimeout: 1000, commandTimeout: STORE_TIMEOUT },
  });
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

const clients: Cluster[] = [];
after(async () => {
  for (const client of clients) client.disconnect();
  await servers?.stop();
});
async function open(): Promise<Cluster> {
  const client = await clusterClient();
  clients.push(client);
  return client;
}
const shared = skip ? null : await open();

describeSessionStore('redis cluster with replicas', () => new RedisStore(shared as Cluster, { prefix: `kc${randomBytes(3).toString('hex')}:` }), { skip });

/** The masters and their replicas as CLUSTER NODES says now. */
const shards = (): Promise<ClusterShard[]> => (servers as RedisCluster).shards();

async function waits(server: RedisServer): Promise<number> {
  const stats = String(await server.command('INFO', 'commandstats'));
  return Number(/cmdstat_wait:calls=(\d+)/.exec(stats)?.[1] ?? 0);
}

/** Which master holds a key, per the cluster itself. */
async function masterOf(key: string, all: readonly ClusterShard[]): Promise<ClusterShard> {
  const slot = Number(await redisCommand(all[0]?.master.port as number, ['CLUSTER', 'KEYSLOT', key]));
  const ranges = (await (shared as Cluster).cluster('SLOTS')) as unknown as [number, number, [string, number]][];
  const port = ranges.find(([from, to]) => slot >= from && slot <= to)?.[2][1];
  return all.find((shard) => shard.master.port === port) as ClusterShard;
}

describe('Cluster durability and failover', { skip }, () => {
  it('destroy — waits on the master that holds the session; a stopped replica refuses the sign-outs of its shard only', async () => {
    const store = new RedisStore(shared as Cluster, { prefix: `dur${randomBytes(3).toString('hex')}:`, durability: { timeout: 300 } });
    const all = await shards();
    assert.equal(all.length, 3);
    const principal = samplePrincipal();
    const records = Array.from({ length: 12 }, () => sampleRecord({ principal }));
    for (const record of records) await store.create(record);
    const shardOf = await Promise.all(records.map((record) => masterOf(store.sessionKey(record.id), all)));
    const target = shardOf[0] as ClusterShard;
    const elsewhere = records.findIndex((_, i) => shardOf[i] !== target);
    assert.ok(elsewhere > 0, 'sessions on two shards');

    const before = await Promise.all(all.map((shard) => waits(shard.master)));
    assert.equal(await store.destroy((records[0] as { id: string }).id), true);
    const afterWaits = await Promise.all(all.map((shard) => waits(shard.master)));
    assert.deepEqual(
      all.map((shard, i) => (afterWaits[i] as number) - (before[i] as number) > 0),
      all.map((shard) => shard === target),
      'WAIT ran on the session’s master, and only there',
    );

    const sameShard = records.findIndex((_, i) => i > 0 && shardOf[i] === target);
    target.replica.pause();
    try {
      if (sameShard > 0) await assert.rejects(store.destroy((records[sameShard] as { id: string }).id), WriteNotDurableError);
      assert.equal(await store.destroy((records[elsewhere] as { id: string }).id), true, 'another shard’s replica acknowledges');
    } finally {
      target.replica.resume();
    }
    await store.revokeAll(principal.id);
    await store.close();
  });

  it('a frozen node the client still holds as ready does not hold up a sign-out on another shard: the replication topology comes from the first node to answer', async () => {
    const client = await open();
    // Every connection of the pool is up, as on a client that has served for a while.
    const readyNodes = () => client.nodes('all').filter((node) => node.status === 'ready');
    await within(5000, async () => {
      await Promise.all(client.nodes('all').map((node) => node.ping()));
      return readyNodes().length >= 3;
    }, 'a connection to every master (and the replicas the slot map lists)');
    const ready = readyNodes();
    const frozenPort = Number(ready[0]?.options.port);
    const all = await shards();
    const frozenShard = all.find((shard) => shard.master.port === frozenPort || shard.replica.port === frozenPort) as ClusterShard;
    const frozen = frozenShard.master.port === frozenPort ? frozenShard.master : frozenShard.replica;
    const store = new RedisStore(client, { prefix: `frz${randomBytes(3).toString('hex')}:` });
    const manager = new SessionManager({ secrets: 'f'.repeat(32), store, storeTimeout: STORE_TIMEOUT });
    let cookie = '';
    // A sign-out writes the session's key and its user's index: both on other shards than the frozen node's.
    for (let i = 0; cookie === ''; i++) {
      assert.ok(i < 100, 'a session and its user index on other shards');
      const principal = samplePrincipal();
      const session = await manager.load({ secure: false });
      await session.signIn(principal);
      const headers = await manager.commit(session);
      const shardsWritten = [await masterOf(store.sessionKey(session.snapshot?.id as string), all), await masterOf(store.userKey(principal.id), all)];
      if (!shardsWritten.includes(frozenShard)) {
        cookie = (headers.find(([name]) => name === 'Set-Cookie')?.[1] ?? '').split(';')[0] as string;
      }
    }
    // A client that has served for a while: the store's writer connection is open (its first security write opens
    // it, and ioredis' slot refresh asks the startup nodes one after the other: a frozen one would take slotsRefreshTimeout).
    const warmUp = await manager.load({ secure: false });
    await warmUp.signIn(samplePrincipal());
    await manager.commit(warmUp);
    await warmUp.signOut();
    // The store's first security write reads the topology (CLUSTER NODES), and the sign-out publishes its revoked
    // handle (PUBLISH, keyless): neither may be sent to the frozen node alone, which never answers.
    frozen.pause();
    try {
      const session = await manager.load({ secure: false, cookieHeader: cookie });
      assert.ok(session.principal !== null, 'signed in');
      await session.signOut();
      assert.equal((await manager.load({ secure: false, cookieHeader: cookie })).principal, null, 'signed out');
    } finally {
      frozen.resume();
    }
    await store.close();
  });

  it('lagging replica (stopped, link cut) — a sign-out on its shard fails instead of succeeding; after the failover acknowledged sign-outs hold, the unprotected one is undone', async () => {
    const prefix = `lag${randomBytes(3).toString('hex')}:`;
    const durable = new RedisStore(shared as Cluster, { prefix, durability: { timeout: 300 } });
    const asynchronous = new RedisStore(shared as Cluster, { prefix, durability: { replicas: 0 } });
    const all = await shards();
    const shard = all[all.length - 1] as ClusterShard;
    /** A signed-in record whose key lives on `shard`'s master. */
    const onShard = async () => {
      for (;;) {
        const record = sampleRecord({ principal: samplePrincipal() });
        if ((await masterOf(durable.sessionKey(record.id), all)) === shard) return record;
      }
    };
    const [acknowledged, refused, unprotected, kept] = [await onShard(), await onShard(), await onShard(), await onShard()];
    for (const record of [acknowledged, refused, unprotected, kept]) await durable.create(record);
    assert.equal(await durable.destroy(acknowledged.id), true);
    for (const node of (shared as Cluster).nodes('master')) assert.equal(await node.wait(1, 900), 1, 'every shard replicated so far');

    shard.replica.pause();
    await shard.master.command('CLIENT', 'KILL', 'TYPE', 'replica');
    try {
      await assert.rejects(durable.destroy(refused.id), WriteNotDurableError);
      assert.equal(await asynchronous.destroy(unprotected.id), true, 'acknowledged without a replica');
      await shard.master.kill('SIGKILL');
    } finally {
      shard.replica.resume();
    }
    const promoted = await within(
      FAILOVER_BOUND,
      async () => String(await shard.replica.command('INFO', 'replication').catch(() => '')).includes('role:master'),
      'the lagging replica took over',
      50,
    );
    console.log(`cluster failover (store test): the lagging replica was promoted ${promoted.toFixed(0)} ms after the kill`);
    const present = async (id: string): Promise<boolean> => {
      for (;;) {
        try {
          return (await durable.find(id, Date.now(), Infinity)) !== null;
        } catch {
          await new Promise((resolve) => setTimeout(resolve, 50)); // the client is still finding the new master
        }
      }
    };
    assert.equal(await present(acknowledged.id), false, 'an acknowledged sign-out is never undone');
    assert.equal(await present(kept.id), true, 'the other sessions are there');
    assert.equal(await present(refused.id), true, 'the refused sign-out was reported as failed');
    assert.equal(await present(unprotected.id), true, 'without WAIT the failover undid an acknowledged sign-out');
    await durable.close();
    await asynchronous.close();
  });

  it('HTTP — a master killed under load: 503 within the bound, its replica takes over, service returns by itself, every session is still there', async () => {
    const failures = watchProcessFailures();
    const client = await open();
    const store = new RedisStore(client, { prefix: `http${randomBytes(3).toString('hex')}:` });
    const app = await startApp('express', healthApp({ store, storeTimeout: STORE_TIMEOUT }));
    const manager = app.app.get(SessionManager);
    let stop = false;
    let load: Promise<void>[] = [];
    try {
      const browsers: Client[] = [];
      for (let i = 0; i < 12; i++) {
        const browser = app.client();
        expectStatus(await browser.post('/login', { id: `user-${i}` }), 201);
        browsers.push(browser);
      }
      const leaving = app.client();
      expectStatus(await leaving.post('/login', { id: 'leaving' }), 201);
      const stolen = leaving.fork();
      expectStatus(await leaving.post('/logout'), 204);
      // Sessions created so far are on the replicas (creates are asynchronous by design).
      // (A shard whose replica was promoted earlier in this file has none left: nothing to wait for there.)
      const replicated = new Set((await shards()).map((shard) => shard.master.port));
      for (const node of client.nodes('master')) if (replicated.has(Number(node.options.port))) assert.equal(await node.wait(1, 900), 1);

      const all = await shards();
      const victim = all[0] as ClusterShard;
      const results: { sentAt: number; status: number; ms: number; result: HttpResult }[] = [];
      let killedAt = Infinity;
      load = browsers.map(async (browser) => {
        while (!stop) {
          const sentAt = performance.now();
          const result = await browser.get('/me');
          results.push({ sentAt, status: result.status, ms: performance.now() - sentAt, result });
          if (result.status !== 200) await new Promise((resolve) => setTimeout(resolve, 20));
        }
      });
      await within(5000, async () => results.length >= 60, 'load running before the kill');
      killedAt = performance.now();
      await victim.master.kill('SIGKILL');
      const promoted = await within(
        FAILOVER_BOUND,
        async () => String(await victim.replica.command('INFO', 'replication').catch(() => '')).includes('role:master'),
        'the replica took over',
        50,
      );
      await within(
        FAILOVER_BOUND,
        async () => {
          const recent = results.filter((entry) => entry.sentAt > killedAt).slice(-browsers.length * 3);
          return recent.length >= browsers.length * 3 && recent.every((entry) => entry.status === 200);
        },
        'every browser answered 200 again after the failover',
        50,
      );
      stop = true;
      await Promise.all(load);

      const during = results.filter((entry) => entry.sentAt >= killedAt).map((entry) => ({ ...entry, at: entry.sentAt - killedAt }));
      const errors = during.filter((entry) => entry.status !== 200);
      for (const entry of errors) expectKeycardError(entry.result, 503, 'KEYCARD_STORE_UNAVAILABLE');
      const worst = Math.max(0, ...errors.map((entry) => entry.ms));
      const last503 = Math.max(0, ...errors.map((entry) => entry.at + entry.ms));
      const firstOk = Math.min(...during.filter((entry) => entry.status === 200 && entry.at >= last503 - 1).map((entry) => entry.at + entry.ms));
      console.log(
        `cluster failover (HTTP): replica promoted ${promoted.toFixed(0)} ms after the kill (cluster-node-timeout ${NODE_TIMEOUT}); ` +
          `${during.length} requests after the kill, ${errors.length} answered 503 (slowest ${worst.toFixed(0)} ms, storeTimeout ${STORE_TIMEOUT}); ` +
          `last 503 at +${last503.toFixed(0)} ms, every browser served again from +${firstOk.toFixed(0)} ms; cache ${JSON.stringify(manager.cacheStats())}`,
      );
      assert.ok(errors.length > 0, 'the failover was visible to the load');
      assert.ok(worst < STORE_TIMEOUT + MARGIN, `a 503 took ${worst.toFixed(0)} ms`);
      assert.equal(during.filter((entry) => entry.status === 401).length, 0, 'no session was lost');
      // The cache (on by default) was bypassed from the kill on, and serves hits again once every master's feed is back.
      const stats = manager.cacheStats();
      assert.ok(stats !== null, 'the cache is on by default on a Cluster');
      assert.ok(stats.flushes > 0 && stats.bypassed > 0, 'flushed and bypassed after the kill');
      const serving = (): boolean => (manager.store as { serving?: boolean }).serving === true;
      const restoredIn = await within(FAILOVER_BOUND, async () => serving(), 'the invalidation feed is subscribed again on every master', 20);
      console.log(`cluster failover (HTTP): the cache serves again ${(performance.now() - killedAt).toFixed(0)} ms after the kill (waited ${restoredIn.toFixed(0)} ms for it once the load stopped)`);
      const hitsBefore = manager.cacheStats()?.hits ?? 0;
      for (const browser of browsers) expectStatus(await browser.get('/me'), 200);
      for (const browser of browsers) expectStatus(await browser.get('/me'), 200);
      assert.ok((manager.cacheStats()?.hits ?? 0) - hitsBefore >= browsers.length, 'hits again after the failover');
      expectStatus(await stolen.get('/me'), 401);
      // On the promoted master's shard there is no replica left: its sign-outs need none and are acknowledged.
      for (const browser of browsers.slice(0, 4)) expectStatus(await browser.post('/logout'), 204);
      assert.deepEqual(await manager.health(), { store: 'up' });
    } finally {
      stop = true;
      await Promise.allSettled(load);
      await app.close();
      await store.close();
    }
    assert.deepEqual(await failures.stop(), [], 'no unhandled rejection or uncaught exception during the failover');
  });
});
