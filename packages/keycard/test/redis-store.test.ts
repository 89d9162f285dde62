import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { InvalidOptionsError, StoreUnavailableError, expiresAt } from '../src/index.js';
import { RedisStore } from '../src/redis/index.js';
import { describeSessionStore, samplePrincipal, sampleRecord } from '../src/testing/index.js';
import { REDIS_URL, redisSkip } from './support/services.js';

// The shared Redis at 127.0.0.1:6379 is used by other suites too: every store
// here gets its own prefix under one run prefix, and teardown removes exactly those keys.
const RUN = `keycard-test:${randomBytes(4).toString('hex')}:`;
const skip = await redisSkip();
const client = skip ? null : new Redis(REDIS_URL);

const freshPrefix = (): string => `${RUN}${randomBytes(4).toString('hex')}:`;
const makeStore = (prefix = freshPrefix()): RedisStore => new RedisStore(client as Redis, { prefix });

async function teardown(): Promise<void> {
  if (!client) return;
  // SCAN is fine here: test cleanup, never a request path.
  const keys: string[] = [];
  for await (const batch of client.scanStream({ match: `${RUN}*`, count: 500 })) keys.push(...(batch as string[]));
  if (keys.length > 0) await client.unlink(...keys);
  client.disconnect();
}

describeSessionStore('redis', () => makeStore(), { skip });
after(teardown);

/** The key's absolute expiry in ms (PEXPIRETIME, Redis 7): -1 means none, -2 no key. */
const expiryOf = (key: string): Promise<number> => (client as Redis).call('PEXPIRETIME', key) as Promise<number>;

describe('RedisStore', { skip }, () => {
  const redis = (): Redis => client as Redis;

  it('create — sets the session key to expire at min(idle, absolute) and the index at the absolute expiry', async () => {
    const store = makeStore();
    const principal = samplePrincipal();
    const record = sampleRecord({ principal });
    await store.create(record);
    assert.equal(await expiryOf(store.sessionKey(record.id)), expiresAt(record));
    assert.equal(await expiryOf(store.userKey(principal.id)), record.absoluteExpiresAt);
    await store.close();
  });

  it('create — the index lives as long as its longest-lived session', async () => {
    const store = makeStore();
    const principal = samplePrincipal();
    const short = sampleRecord({ principal, absoluteExpiresAt: Date.now() + 3_600_000 });
    const long = sampleRecord({ principal, absoluteExpiresAt: Date.now() + 7_200_000 });
    await store.create(long);
    await store.create(short);
    assert.equal(await expiryOf(store.userKey(principal.id)), long.absoluteExpiresAt);
    await store.destroy(long.id);
    assert.equal(await expiryOf(store.userKey(principal.id)), short.absoluteExpiresAt);
    await store.close();
  });

  it('find — a touch moves the key expiry with the idle expiry', async () => {
    const store = makeStore();
    const record = sampleRecord();
    await store.create(record);
    const later = record.lastSeenAt + 10 * 60_000;
    const found = await store.find(record.id, later, 60_000);
    assert.equal(found?.idleExpiresAt, later + record.idleTimeout);
    assert.equal(await expiryOf(store.sessionKey(record.id)), later + record.idleTimeout);
    await store.close();
  });

  it('find — inside the touch interval writes nothing (the key is not modified)', async () => {
    const store = makeStore();
    const record = sampleRecord();
    await store.create(record);
    const key = store.sessionKey(record.id);
    const before = await redis().hgetall(key);
    await store.find(record.id, record.lastSeenAt + 1000, 60_000);
    assert.deepEqual(await redis().hgetall(key), before);
    assert.equal(await expiryOf(key), expiresAt(record));
    await store.close();
  });

  it('every key it writes has a TTL, through a whole session lifecycle', async () => {
    const prefix = freshPrefix();
    const store = makeStore(prefix);
    const principal = samplePrincipal();
    const anonymous = sampleRecord({ data: { cart: [1] } });
    await store.create(anonymous);
    const signedIn = sampleRecord({ principal, handle: anonymous.handle, data: { cart: [1] } });
    await store.rotate(anonymous.id, signedIn);
    await store.update(signedIn.id, { set: { theme: 'dark' }, unset: ['cart'] });
    await store.find(signedIn.id, signedIn.lastSeenAt + 600_000, 60_000);
    await store.refreshPrincipal({ ...principal, roles: ['admin'] });
    const other = sampleRecord({ principal });
    await store.create(other);
    await store.listByUser(principal.id, Date.now());
    const keys = await redis().keys(`${prefix}*`);
    const expected = [store.sessionKey(signedIn.id), store.sessionKey(other.id), store.userKey(principal.id)];
    assert.deepEqual(keys.sort(), expected.sort());
    for (const key of keys) assert.ok((await redis().pttl(key)) > 0, `${key} has no TTL`);
    await store.close();
  });

  it('rotate — the old key is gone and the index moves to the new id', async () => {
    const store = makeStore();
    const principal = samplePrincipal();
    const record = sampleRecord({ principal });
    await store.create(record);
    const next = sampleRecord({ principal, handle: record.handle });
    assert.equal(await store.rotate(record.id, next), true);
    assert.equal(await redis().exists(store.sessionKey(record.id)), 0);
    assert.deepEqual(await redis().zrange(store.userKey(principal.id), 0, '-1'), [next.id]);
    await store.close();
  });

  it('rotate — to another user moves the entry between the two indexes', async () => {
    const store = makeStore();
    const alice = samplePrincipal();
    const bob = samplePrincipal();
    const record = sampleRecord({ principal: alice });
    await store.create(record);
    const next = sampleRecord({ principal: bob });
    assert.equal(await store.rotate(record.id, next), true);
    assert.equal(await redis().exists(store.userKey(alice.id)), 0);
    assert.deepEqual(await redis().zrange(store.userKey(bob.id), 0, '-1'), [next.id]);
    await store.close();
  });

  it('listByUser — drops index entries whose session hash is gone (expired by Redis)', async () => {
    const store = makeStore();
    const principal = samplePrincipal();
    const kept = sampleRecord({ principal });
    const expired = sampleRecord({ principal });
    await store.create(kept);
    await store.create(expired);
    // What a TTL expiry does: the hash disappears, the index entry stays behind.
    await redis().del(store.sessionKey(expired.id));
    assert.deepEqual((await store.listByUser(principal.id, Date.now())).map((r) => r.id), [kept.id]);
    assert.deepEqual(await redis().zrange(store.userKey(principal.id), 0, '-1'), [kept.id]);
    await store.close();
  });

  it('revokeAll — prunes entries whose hash is gone and returns only real handles', async () => {
    const store = makeStore();
    const principal = samplePrincipal();
    const live = sampleRecord({ principal });
    const gone = sampleRecord({ principal });
    await store.create(live);
    await store.create(gone);
    await redis().del(store.sessionKey(gone.id));
    assert.deepEqual(await store.revokeAll(principal.id), [live.handle]);
    assert.equal(await redis().exists(store.userKey(principal.id)), 0);
    await store.close();
  });

  it('revokeAll — leaves a session of another user listed in the index alone', async () => {
    const store = makeStore();
    const alice = samplePrincipal();
    const mallory = samplePrincipal();
    const foreign = sampleRecord({ principal: mallory });
    await store.create(foreign);
    // A corrupted index (not something the store writes) must not let one user end another's session.
    await redis().zadd(store.userKey(alice.id), String(foreign.absoluteExpiresAt), foreign.id);
    await redis().pexpireat(store.userKey(alice.id), foreign.absoluteExpiresAt);
    assert.deepEqual(await store.revokeAll(alice.id), []);
    assert.equal((await store.find(foreign.id, Date.now(), Infinity))?.id, foreign.id);
    assert.deepEqual(await store.listByUser(alice.id, Date.now()), []);
    await store.close();
  });

  it('update — a data key named __proto__ or with odd characters stays data', async () => {
    const store = makeStore();
    const record = sampleRecord();
    await store.create(record);
    const data = JSON.parse('{"__proto__":{"polluted":true},"#h":"not the handle","":0,"a.b":[1]}') as Record<string, never>;
    assert.equal(await store.update(record.id, { set: data }), true);
    const found = await store.find(record.id, Date.now(), Infinity);
    assert.equal(found?.handle, record.handle);
    assert.deepEqual(Object.keys(found?.data ?? {}).sort(), ['', '#h', '__proto__', 'a.b']);
    assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
    await store.close();
  });

  it('create/update — a session with thousands of keys is written in chunks', async () => {
    const store = makeStore();
    const data = Object.fromEntries(Array.from({ length: 5000 }, (_, i) => [`k${i}`, i]));
    const record = sampleRecord({ data });
    await store.create(record);
    const unset = Array.from({ length: 3000 }, (_, i) => `k${i}`);
    assert.equal(await store.update(record.id, { set: { extra: true }, unset }), true);
    const found = await store.find(record.id, Date.now(), Infinity);
    assert.equal(Object.keys(found?.data ?? {}).length, 2001);
    assert.equal(found?.data['k4999'], 4999);
    await store.close();
  });

  it('onRevoked — another store on the same prefix (another process) hears the revocation', async () => {
    const prefix = freshPrefix();
    const publisher = makeStore(prefix);
    const subscriber = new RedisStore(new Redis(REDIS_URL), { prefix });
    const record = sampleRecord({ principal: samplePrincipal() });
    await publisher.create(record);
    const heard = new Promise<readonly string[]>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no revocation within 2000 ms')), 2000);
      void subscriber
        .onRevoked((handles) => {
          clearTimeout(timer);
          resolve(handles);
        })
        .then(() => publisher.destroy(record.id), reject);
    });
    assert.deepEqual(await heard, [record.handle]);
    await subscriber.close();
    await publisher.close();
  });

  it('onRevoked — a store on another prefix hears nothing of it', async () => {
    const mine = makeStore();
    const other = makeStore();
    const heard: (readonly string[])[] = [];
    const ownMessage = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no revocation within 2000 ms')), 2000);
      void other.onRevoked((handles) => {
        heard.push(handles);
        if (handles.includes(theirs.handle)) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    const ours = sampleRecord();
    const theirs = sampleRecord();
    await mine.create(ours);
    await other.create(theirs);
    await other.onRevoked(() => undefined); // resolves once the shared subscription is acknowledged
    await mine.destroy(ours.id);
    await other.destroy(theirs.id);
    // One subscriber connection delivers in publish order: had `ours` reached it, it would be first.
    await ownMessage;
    assert.deepEqual(heard, [[theirs.handle]]);
    await mine.close();
    await other.close();
  });

  it('close — closes the subscriber it opened and never the client it was given', async () => {
    const own = new Redis(REDIS_URL);
    const store = new RedisStore(own, { prefix: freshPrefix() });
    await store.onRevoked(() => undefined);
    const before = await redis().client('LIST');
    await store.close();
    assert.equal(await own.ping(), 'PONG');
    assert.equal(own.status, 'ready');
    const after = await redis().client('LIST');
    assert.ok(String(after).split('\n').length < String(before).split('\n').length, 'the subscriber connection is closed');
    own.disconnect();
  });

  it('ping — rejects with StoreUnavailableError when the client is closed', async () => {
    const own = new Redis(REDIS_URL);
    await own.ping();
    own.disconnect();
    const store = new RedisStore(own);
    await assert.rejects(store.ping(), StoreUnavailableError);
  });

  it('constructor — rejects something that is not an ioredis client', () => {
    assert.throws(() => new RedisStore({} as Redis), InvalidOptionsError);
    assert.throws(() => new RedisStore(redis(), { prefix: 3 as unknown as string }), /prefix must be a string/);
  });
});
