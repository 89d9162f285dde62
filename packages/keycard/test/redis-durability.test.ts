import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { SessionManager, StoreUnavailableError, WriteNotDurableError } from '../src/index.js';
import { RedisStore } from '../src/redis/index.js';
import { clusterTopology, connectedReplicas } from '../src/redis/durability.js';
import { samplePrincipal, sampleRecord } from '../src/testing/index.js';
import { RedisServer, redisServerSkip } from './support/redis-server.js';

// A master and a replica of its own (the replica is stopped and killed by the tests), and a lone master.
const skip = redisServerSkip();

const SECRET = 'durability-test-secret-0123456789abcdef';

function clientOf(server: RedisServer): Promise<Redis> {
  const client = new Redis({
    host: server.host,
    port: server.port,
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: 2000,
    retryStrategy: (attempt) => Math.min(attempt * 100, 500),
  });
  client.on('error', () => undefined);
  return client.connect().then(() => client);
}

/** How many WAITs the server has run: the cost the durability rule adds, read from Redis itself. */
async function waits(server: RedisServer): Promise<number> {
  const stats = String(await server.command('INFO', 'commandstats'));
  return Number(/cmdstat_wait:calls=(\d+)/.exec(stats)?.[1] ?? 0);
}

async function replicaInSync(replica: RedisServer): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (String(await replica.command('INFO', 'replication')).includes('master_link_status:up')) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error('replica not in sync within 10 s');
}

const prefix = (): string => `dur${randomBytes(3).toString('hex')}:`;

describe('RedisStore durability', { skip }, () => {
  let master: RedisServer;
  let replica: RedisServer;
  let lone: RedisServer;
  let client: Redis;
  let loneClient: Redis;

  before(async () => {
    [master, lone] = await Promise.all([RedisServer.start(), RedisServer.start()]);
    replica = await RedisServer.start({ args: ['--replicaof', master.host, String(master.port)] });
    await replicaInSync(replica);
    [client, loneClient] = await Promise.all([clientOf(master), clientOf(lone)]);
  });

  after(async () => {
    client?.disconnect();
    loneClient?.disconnect();
    await Promise.all([master?.stop(), replica?.stop(), lone?.stop()]);
  });

  describe('when the master has no replica', () => {
    it('destroy — costs no WAIT', async () => {
      const store = new RedisStore(loneClient, { prefix: prefix() });
      const principal = samplePrincipal();
      const [first, second] = [sampleRecord({ principal }), sampleRecord({ principal })];
      await store.create(first);
      await store.create(second);
      const before = await waits(lone);
      assert.equal(await store.destroy(first.id), true);
      assert.equal(await store.refreshPrincipal({ ...principal, roles: [] }), 1);
      assert.deepEqual(await store.revokeAll(principal.id), [second.handle]);
      assert.equal(await waits(lone), before);
      await store.close();
    });
  });

  describe('when the master has a replica', () => {
    it('destroy — waits for the replica, and the replica has the delete when it resolves', async () => {
      const store = new RedisStore(client, { prefix: prefix() });
      const record = sampleRecord({ principal: samplePrincipal() });
      await store.create(record);
      const before = await waits(master);
      assert.equal(await store.destroy(record.id), true);
      assert.ok((await waits(master)) > before, 'a WAIT was sent');
      assert.equal(await replica.command('EXISTS', store.sessionKey(record.id)), 0);
      await store.close();
    });

    it('destroy — with the replica stopped, rejects with WriteNotDurableError within the bound, and a retry succeeds once it is back', async () => {
      const store = new RedisStore(client, { prefix: prefix(), durability: { timeout: 300 } });
      const record = sampleRecord({ principal: samplePrincipal() });
      await store.create(record);
      replica.pause();
      try {
        const started = performance.now();
        const error = await store.destroy(record.id).then(() => null, (e: unknown) => e);
        const elapsed = performance.now() - started;
        assert.ok(error instanceof WriteNotDurableError, `rejected with ${String(error)}`);
        assert.ok(error instanceof StoreUnavailableError, 'it is the store error that maps to 503');
        assert.equal(error.required, 1);
        assert.equal(error.acknowledged, 0);
        assert.ok(elapsed >= 290 && elapsed < 1000, `rejected after ${elapsed.toFixed(0)} ms`);
      } finally {
        replica.resume();
      }
      // The retry finds nothing to delete, but still confirms the first attempt's delete reached the replica.
      assert.equal(await store.destroy(record.id), false);
      assert.equal(await replica.command('EXISTS', store.sessionKey(record.id)), 0);
      await store.close();
    });

    it('revokeAll, refreshPrincipal, signed-in rotate — refuse while the replica is stopped; create, update and anonymous rotate do not wait', async () => {
      const store = new RedisStore(client, { prefix: prefix(), durability: { timeout: 200 } });
      const principal = samplePrincipal();
      const signedIn = sampleRecord({ principal });
      const anonymous = sampleRecord();
      await store.create(signedIn);
      await store.create(anonymous);
      replica.pause();
      try {
        await store.create(sampleRecord({ principal }));
        assert.equal(await store.update(signedIn.id, { set: { theme: 'dark' } }), true);
        assert.equal(await store.rotate(anonymous.id, sampleRecord({ principal })), true, 'a sign-in replacing an anonymous session');
        await assert.rejects(store.rotate(signedIn.id, sampleRecord({ principal, handle: signedIn.handle })), WriteNotDurableError);
        await assert.rejects(store.refreshPrincipal({ ...principal, roles: [] }), WriteNotDurableError);
        await assert.rejects(store.revokeAll(principal.id), WriteNotDurableError);
      } finally {
        replica.resume();
      }
      assert.deepEqual(await store.revokeAll(principal.id), []);
      await store.close();
    });

    it('destroy — a replica whose link is down still counts: no silent success while it is gone', async () => {
      const store = new RedisStore(client, { prefix: prefix(), durability: { timeout: 200, refreshInterval: 0 } });
      const record = sampleRecord({ principal: samplePrincipal() });
      await store.create(record);
      assert.equal((await store.listByUser(record.principal?.id as string, Date.now())).length, 1);
      // The store has seen the replica; now it disappears from INFO replication altogether.
      assert.equal(await store.destroy(sampleRecord().id), false);
      await replica.kill();
      try {
        const info = String(await master.command('INFO', 'replication'));
        assert.match(info, /connected_slaves:0/);
        await assert.rejects(store.destroy(record.id), WriteNotDurableError);
      } finally {
        await replica.restart();
        await replicaInSync(replica);
      }
      assert.equal(await store.destroy(record.id), false);
      await store.close();
    });

    it('durability.replicas 0 — never waits (replication stays asynchronous)', async () => {
      const store = new RedisStore(client, { prefix: prefix(), durability: { replicas: 0 } });
      const record = sampleRecord({ principal: samplePrincipal() });
      await store.create(record);
      replica.pause();
      try {
        const before = await waits(master);
        assert.equal(await store.destroy(record.id), true);
        assert.equal(await waits(master), before);
      } finally {
        replica.resume();
      }
      await store.close();
    });

    it('SessionManager — the default bound is half its storeTimeout, and a sign-out that is not durable rejects (503), not a silent success', async () => {
      const store = new RedisStore(client, { prefix: prefix() });
      const manager = new SessionManager({ secrets: [SECRET], store, storeTimeout: 600 });
      const session = await manager.load({ secure: false });
      await session.signIn(samplePrincipal());
      const headers = await manager.commit(session);
      const cookieHeader = (headers.find(([name]) => name === 'Set-Cookie')?.[1] ?? '').split(';')[0] as string;
      const signedIn = await manager.load({ secure: false, cookieHeader });
      assert.equal(signedIn.isAuthenticated, true);
      replica.pause();
      try {
        const started = performance.now();
        await assert.rejects(signedIn.signOut(), WriteNotDurableError);
        const elapsed = performance.now() - started;
        assert.ok(elapsed >= 290 && elapsed < 600, `bound ${elapsed.toFixed(0)} ms: half of 600, within the store timeout`);
      } finally {
        replica.resume();
      }
      await store.close();
    });
  });
});

describe('durability topology parsing', () => {
  it('clusterTopology — counts failed and disconnected replicas of each master', () => {
    const nodes = [
      'a1 127.0.0.1:7001@17001 myself,master - 0 0 1 connected 0-5460',
      'a2 127.0.0.1:7002@17002 master - 0 0 2 connected 5461-10922',
      'a3 127.0.0.1:7003@17003 master,fail - 0 0 3 disconnected',
      'r1 127.0.0.1:7004@17004 slave a1 0 0 1 connected',
      'r2 127.0.0.1:7005@17005 slave,fail a2 0 0 2 disconnected',
      'r3 127.0.0.1:7006@17006,host6 master - 0 0 4 connected 10923-16383',
      '',
    ].join('\n');
    const topology = clusterTopology(nodes);
    assert.deepEqual(
      [...topology.byMaster],
      [['127.0.0.1:7001', 1], ['127.0.0.1:7002', 1], ['127.0.0.1:7003', 0], ['127.0.0.1:7006', 0]],
    );
    assert.equal(topology.most, 1);
  });

  it('connectedReplicas — reads the replica lines of INFO replication', () => {
    const info = '# Replication\r\nrole:master\r\nconnected_slaves:2\r\nslave0:ip=127.0.0.1,port=6380,state=online,offset=42,lag=0\r\nslave1:ip=10.0.0.2,port=6381,state=wait_bgsave,offset=0,lag=1\r\nmaster_replid:abc\r\n';
    assert.deepEqual(connectedReplicas(info), ['127.0.0.1:6380', '10.0.0.2:6381']);
    assert.deepEqual(connectedReplicas('# Replication\r\nrole:master\r\nconnected_slaves:0\r\n'), []);
  });
});
