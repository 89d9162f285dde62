import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import session from 'express-session';
import {
  ConnectStoreAdapter,
  SessionManager,
  StoreUnavailableError,
  UnsupportedOperationError,
  type ConnectSession,
  type ConnectStore,
  type Principal,
} from '../src/index.js';
import { describeSessionStore, samplePrincipal, sampleRecord } from '../src/testing/index.js';

const LACKS = ['perUserIndex', 'atomicUpdate'] as const;

// express-session's own MemoryStore: the reference implementation of the callback API.
describeSessionStore('connect (express-session MemoryStore)', () => new ConnectStoreAdapter(new session.MemoryStore()), {
  lacks: LACKS,
});

/** A store whose every call fails the way the test says. */
function failingStore(behaviour: 'callback-error' | 'throws' | 'rejects' | 'silent'): ConnectStore {
  const act = (callback?: (error?: unknown) => void): unknown => {
    if (behaviour === 'callback-error') callback?.(new Error('connection refused'));
    if (behaviour === 'throws') throw new Error('store exploded');
    if (behaviour === 'rejects') return Promise.reject(new Error('promise rejected'));
    return undefined;
  };
  return {
    get: (_sid, callback) => act(callback),
    set: (_sid, _session, callback) => act(callback),
    destroy: (_sid, callback) => act(callback),
  };
}

describe('ConnectStoreAdapter', () => {
  it('update — concurrent writers in this process both win (operations on one session are serialised)', async () => {
    const store = new ConnectStoreAdapter(new session.MemoryStore());
    const record = sampleRecord({ data: { base: true } });
    await store.create(record);
    const writes = Array.from({ length: 20 }, (_, i) => store.update(record.id, { set: { [`k${i}`]: i } }));
    assert.deepEqual(await Promise.all(writes), Array(20).fill(true));
    const data = (await store.find(record.id, Date.now(), Infinity))?.data ?? {};
    assert.equal(Object.keys(data).length, 21);
  });

  it('update — racing a destroy in this process never resurrects the session', async () => {
    const store = new ConnectStoreAdapter(new session.MemoryStore());
    const record = sampleRecord();
    await store.create(record);
    const [destroyed, ...updated] = await Promise.all([
      store.destroy(record.id),
      ...Array.from({ length: 5 }, (_, i) => store.update(record.id, { set: { [`k${i}`]: i } })),
    ]);
    assert.equal(destroyed, true);
    assert.deepEqual(updated, Array(5).fill(false));
    assert.equal(await store.find(record.id, Date.now(), Infinity), null);
  });

  it('find — never adopts a session that express-session itself wrote under that id', async () => {
    const backing = new session.MemoryStore();
    const store = new ConnectStoreAdapter(backing);
    const id = sampleRecord().id;
    const legacy = { cookie: { originalMaxAge: 60_000, expires: new Date(Date.now() + 60_000) }, passport: { user: 'x' } };
    await new Promise<void>((resolve, reject) =>
      backing.set(id, legacy as unknown as session.SessionData, (error) => (error ? reject(error) : resolve())),
    );
    assert.equal(await store.find(id, Date.now(), Infinity), null);
    assert.equal(await store.update(id, { set: { x: 1 } }), false);
  });

  it('create — writes the record’s expiry as the cookie expiry, so the backing store’s TTL matches', async () => {
    const written: ConnectSession[] = [];
    const backing = new session.MemoryStore();
    const spy: ConnectStore = {
      get: (sid, callback) => backing.get(sid, callback as never),
      set: (sid, value, callback) => {
        written.push(value);
        backing.set(sid, value as never, callback);
      },
      destroy: (sid, callback) => backing.destroy(sid, callback),
    };
    const now = Date.now();
    const record = sampleRecord({ idleExpiresAt: now + 60_000, absoluteExpiresAt: now + 120_000 });
    await new ConnectStoreAdapter(spy).create(record);
    assert.equal(new Date(written[0]?.cookie.expires as string).getTime(), now + 60_000);
  });

  it('listByUser, revokeAll, refreshPrincipal — reject with a typed error that says why', async () => {
    const store = new ConnectStoreAdapter(new session.MemoryStore());
    const principal = samplePrincipal();
    for (const call of [
      store.listByUser(principal.id, Date.now()),
      store.revokeAll(principal.id),
      store.refreshPrincipal(principal),
    ]) {
      const error = await call.then(
        () => assert.fail('expected a rejection'),
        (e: unknown) => e,
      );
      assert.ok(error instanceof UnsupportedOperationError);
      assert.equal(error.code, 'KEYCARD_UNSUPPORTED');
      assert.match(error.message, /needs a per-user index, which an express-session store does not have/);
    }
  });

  for (const behaviour of ['callback-error', 'throws', 'rejects'] as const) {
    it(`find — a store that fails (${behaviour}) gives StoreUnavailableError with the cause`, async () => {
      const store = new ConnectStoreAdapter(failingStore(behaviour));
      const error = await store.find(sampleRecord().id, Date.now(), Infinity).then(
        () => assert.fail('expected a rejection'),
        (e: unknown) => e,
      );
      assert.ok(error instanceof StoreUnavailableError);
      assert.ok(error.cause instanceof Error);
      await assert.rejects(store.ping(), StoreUnavailableError);
    });
  }

  it('find — a store that never calls back gives StoreUnavailableError after callbackTimeout, and frees the session', async () => {
    let answer = false;
    const backing = new session.MemoryStore();
    const flaky: ConnectStore = {
      get: (sid, callback) => (answer ? backing.get(sid, callback as never) : undefined),
      set: (sid, value, callback) => backing.set(sid, value as never, callback),
      destroy: (sid, callback) => backing.destroy(sid, callback),
    };
    const store = new ConnectStoreAdapter(flaky, { callbackTimeout: 50 });
    const id = sampleRecord().id;
    const started = performance.now();
    await assert.rejects(store.find(id, Date.now(), Infinity), StoreUnavailableError);
    assert.ok(performance.now() - started < 1000);
    answer = true;
    assert.equal(await store.find(id, Date.now(), Infinity), null);
  });

  it('constructor — rejects something that is not an express-session store', () => {
    assert.throws(() => new ConnectStoreAdapter({} as ConnectStore), /expected an express-session store/);
    assert.throws(
      () => new ConnectStoreAdapter(new session.MemoryStore(), { callbackTimeout: 0 }),
      /callbackTimeout must be a positive number/,
    );
  });

  it('SessionManager — signs in, reads, rotates and logs out through an express-session store', async () => {
    const alice: Principal = { id: 'alice', roles: ['user'], authVersion: 1 };
    const manager = new SessionManager({ secrets: 'c'.repeat(32), store: new ConnectStoreAdapter(new session.MemoryStore()) });
    const anonymous = await manager.load({ secure: false });
    anonymous.set('theme', 'dark');
    const first = (await manager.commit(anonymous)).find(([name]) => name === 'Set-Cookie')?.[1]?.split(';')[0];
    assert.ok(first);
    const signingIn = await manager.load({ secure: false, cookieHeader: first });
    await signingIn.signIn(alice);
    const second = (await manager.commit(signingIn)).find(([name]) => name === 'Set-Cookie')?.[1]?.split(';')[0];
    assert.ok(second && second !== first);
    assert.equal((await manager.load({ secure: false, cookieHeader: first })).principal, null);
    const signedIn = await manager.load({ secure: false, cookieHeader: second });
    assert.equal(signedIn.principal?.id, 'alice');
    assert.equal(signedIn.get('theme'), 'dark');
    await signedIn.signOut();
    await manager.commit(signedIn);
    assert.equal((await manager.load({ secure: false, cookieHeader: second })).principal, null);
  });
});
