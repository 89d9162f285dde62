import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { Cluster } from 'ioredis';
import { RedisStore } from '../src/redis/index.js';
import { describeSessionStore, samplePrincipal, sampleRecord } from '../src/testing/index.js';
import { RedisCluster } from './support/redis-cluster.js';
import { redisServerSkip } from './support/redis-server.js';

// A real cluster of three masters, started by this file and stopped in teardown.
const skip = redisServerSkip();
const started = performance.now();
const servers = skip ? null : await RedisCluster.start({ masters: 3 });
const startupMs = performance.now() - started;
const client = servers ? new Cluster(servers.nodes) : null;
if (servers) console.log(`redis cluster: 3 masters on ports ${servers.nodes.map((n) => n.port).join(', ')} ready in ${startupMs.toFixed(0)} ms`);

const makeStore = (): RedisStore => new RedisStore(client as Cluster, { prefix: `kc${randomBytes(3).toString('hex')}:` });

async function teardown(): Promise<void> {
  client?.disconnect();
  await servers?.stop();
}

describeSessionStore('redis cluster', makeStore, { skip });
after(teardown);

describe('RedisStore on a cluster', { skip }, () => {
  const cluster = (): Cluster => client as Cluster;
  const slotOf = async (key: string): Promise<number> => Number(await cluster().cluster('KEYSLOT', key));

  it('keys — a session and its user index are in different slots, and one user’s sessions spread over the masters', async () => {
    const store = makeStore();
    const principal = samplePrincipal();
    const records = Array.from({ length: 24 }, () => sampleRecord({ principal }));
    for (const record of records) await store.create(record);
    const userSlot = await slotOf(store.userKey(principal.id));
    const sessionSlots = await Promise.all(records.map((r) => slotOf(store.sessionKey(r.id))));
    assert.ok(sessionSlots.some((slot) => slot !== userSlot));
    // Which master holds each session: the operations below cross nodes, not just slots.
    const ranges = await cluster().cluster('SLOTS');
    const ownerOf = (slot: number): number | undefined => ranges.find(([from, to]) => slot >= from && slot <= to)?.[2]?.[1];
    const owners = new Set(sessionSlots.map(ownerOf));
    assert.ok(owners.size >= 2, `sessions on ${owners.size} master(s)`);
    assert.equal((await store.listByUser(principal.id, Date.now())).length, 24);
    assert.equal((await store.revokeAll(principal.id)).length, 24);
    assert.deepEqual(await store.listByUser(principal.id, Date.now()), []);
    await store.close();
  });

  it('rotate — across slots the old id is dead and the new one indexed', async () => {
    const store = makeStore();
    const principal = samplePrincipal();
    const record = sampleRecord({ principal, data: { a: 1 } });
    await store.create(record);
    let next = sampleRecord({ principal, handle: record.handle, data: { a: 1 } });
    // Make the cross-slot case explicit rather than likely.
    while ((await slotOf(store.sessionKey(next.id))) === (await slotOf(store.sessionKey(record.id)))) {
      next = sampleRecord({ principal, handle: record.handle, data: { a: 1 } });
    }
    assert.equal(await store.rotate(record.id, next), true);
    assert.equal(await store.find(record.id, Date.now(), Infinity), null);
    assert.equal(await store.update(record.id, { set: { a: 2 } }), false);
    assert.deepEqual((await store.listByUser(principal.id, Date.now())).map((r) => r.id), [next.id]);
    await store.close();
  });
});
