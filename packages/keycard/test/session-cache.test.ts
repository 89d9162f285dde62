import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, it } from 'node:test';
import { PGlite } from '@electric-sql/pglite';
import { InvalidOptionsError, MemoryStore, SessionManager, type Principal, type SessionOptions, type SessionRecord, type SessionStore } from '../src/index.js';
import { PostgresStore, pgliteClient } from '../src/postgres/index.js';
import { SessionCache } from '../src/core/session-cache.js';

const SECRET = 'c'.repeat(32);
const SECOND = 1000;
const alice: Principal = { id: 'alice', roles: ['user'], authVersion: 1 };

function manualClock(start = Date.UTC(2026, 0, 1)) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

/** The real MemoryStore with its `find` calls counted (the only thing the cache may save). */
class CountingStore extends MemoryStore {
  finds = 0;
  override find(id: string, now: number, touchInterval: number): Promise<SessionRecord | null> {
    this.finds++;
    return super.find(id, now, touchInterval);
  }
}

function setup(options: Partial<SessionOptions> = {}) {
  const clock = manualClock();
  const store = new CountingStore({ sweepInterval: 0, clock });
  const manager = new SessionManager({ secrets: SECRET, store, clock, idleTimeout: 1800, touchInterval: 60, ...options });
  return { clock, store, manager };
}

async function signIn(manager: SessionManager, principal: Principal = alice): Promise<string> {
  const session = await manager.load({ secure: false });
  await session.signIn(principal);
  const headers = await manager.commit(session);
  const setCookie = headers.find(([name]) => name === 'Set-Cookie')?.[1];
  assert.ok(setCookie);
  return setCookie.split(';')[0] as string;
}

const read = (manager: SessionManager, cookie: string) => manager.load({ secure: false, cookieHeader: cookie });

/** The cache starts serving once its store's feed is subscribed (a microtask for the embedded stores). */
const settled = () => new Promise((resolve) => setImmediate(resolve));

describe('session cache', () => {
  describe('when the store is the memory store (exclusive: on by default)', () => {
    it('load — a cached, live session costs no store call', async () => {
      const { manager, store } = setup();
      await settled();
      const cookie = await signIn(manager);
      const before = store.finds;
      for (let i = 0; i < 20; i++) assert.equal((await read(manager, cookie)).principal?.id, 'alice');
      assert.equal(store.finds - before, 0);
      const stats = manager.cacheStats();
      assert.equal(stats?.hits, 20);
      assert.equal(stats?.entries, 1);
      assert.ok((stats?.bytes ?? 0) > 100);
    });

    it('load — a cached record that looks expired is a miss: the store’s record decides, and ends it only when it is expired there', async () => {
      const { manager, store, clock } = setup({ touchInterval: 1799 });
      await settled();
      const cookie = await signIn(manager);
      clock.advance(1801 * SECOND);
      const before = store.finds;
      const session = await read(manager, cookie);
      assert.equal(session.principal, null);
      assert.equal(store.finds - before, 1, 'asked the store, which judged its own record expired');
      // Expired in the store too: destroyed, as without the cache.
      assert.equal(await store.find(session.handle ?? 'none', clock.now(), Infinity), null);
    });

    it('load — finding #2: a cached copy past its idle deadline does not end a session another manager touched in the store', async () => {
      const clock = manualClock();
      const store = new MemoryStore({ sweepInterval: 0, clock });
      const a = new SessionManager({ secrets: SECRET, store, clock, idleTimeout: 60, touchInterval: 10 });
      const b = new SessionManager({ secrets: SECRET, store, clock, idleTimeout: 60, touchInterval: 10 });
      const direct = new SessionManager({ secrets: SECRET, store, clock, idleTimeout: 60, touchInterval: 10, cache: false });
      await settled();
      const cookie = await signIn(a); // A holds the record, idle deadline t0 + 60 s
      clock.advance(11 * SECOND);
      assert.equal((await read(b, cookie)).principal?.id, 'alice', 'B touches the store: its deadline is now t0 + 71 s');
      clock.advance(54 * SECOND); // t0 + 65 s: past A's cached deadline, not the store's
      assert.equal((await read(a, cookie)).principal?.id, 'alice', 'A judged from the store, not from its stale copy');
      await settled();
      assert.equal((await read(direct, cookie)).principal?.id, 'alice', 'and the store’s record survived');
    });

    it('load — the touch still goes to the store once per touch interval', async () => {
      const { manager, store, clock } = setup();
      await settled();
      const cookie = await signIn(manager);
      const before = store.finds;
      clock.advance(30 * SECOND);
      await read(manager, cookie);
      assert.equal(store.finds - before, 0, 'inside the touch interval: from the cache');
      clock.advance(31 * SECOND);
      await read(manager, cookie);
      assert.equal(store.finds - before, 1, 'touch due: to the store');
      clock.advance(1 * SECOND);
      await read(manager, cookie);
      await read(manager, cookie);
      assert.equal(store.finds - before, 1, 'the touched record is what the cache serves from then on');
      // The touch reached the store: the session is extended from there.
      clock.advance(1790 * SECOND);
      assert.equal((await read(manager, cookie)).principal?.id, 'alice');
    });

    it('signOut on another manager sharing the store — this one never accepts the old cookie again', async () => {
      const clock = manualClock();
      const store = new MemoryStore({ sweepInterval: 0, clock });
      const a = new SessionManager({ secrets: SECRET, store, clock });
      const b = new SessionManager({ secrets: SECRET, store, clock });
      await settled();
      const cookie = await signIn(a);
      assert.equal((await read(b, cookie)).principal?.id, 'alice');
      assert.equal((await read(b, cookie)).principal?.id, 'alice');
      assert.equal(b.cacheStats()?.hits, 1);
      const session = await read(a, cookie);
      await session.signOut();
      assert.equal((await read(b, cookie)).principal, null);
    });

    it('refreshPrincipal and revokeAll on another manager — this one sees them at the next read', async () => {
      const clock = manualClock();
      const store = new MemoryStore({ sweepInterval: 0, clock });
      const a = new SessionManager({ secrets: SECRET, store, clock });
      const b = new SessionManager({ secrets: SECRET, store, clock });
      await settled();
      const cookie = await signIn(a);
      await read(b, cookie);
      await a.refreshPrincipal({ ...alice, roles: ['admin'] });
      const refreshed = await read(b, cookie);
      assert.deepEqual(refreshed.principal?.roles, ['admin']);
      const rotated = (await b.commit(refreshed)).find(([name]) => name === 'Set-Cookie')?.[1];
      assert.ok(rotated, 'the refreshed session got a new id');
      const next = rotated.split(';')[0] as string;
      await read(b, next);
      await a.revokeAll('alice');
      assert.equal((await read(b, next)).principal, null);
      assert.equal((await read(b, cookie)).principal, null);
    });

    it('get — a handler mutating an object in place changes no other request’s copy', async () => {
      const { manager } = setup();
      await settled();
      const cookie = await signIn(manager);
      const writer = await read(manager, cookie);
      writer.set('cart', { items: ['a'] });
      await manager.commit(writer);
      const first = await read(manager, cookie);
      (first.get('cart') as { items: string[] }).items.push('mutated, never committed');
      const second = await read(manager, cookie);
      assert.deepEqual(second.get('cart'), { items: ['a'] });
    });

    it('a miss that raced a sign-out does not put the old record back', async () => {
      const clock = manualClock();
      let release: (() => void) | undefined;
      /** Parks a find after it has read the record, while `gate` is set. */
      class GatedStore extends MemoryStore {
        gate = false;
        override async find(id: string, now: number, touchInterval: number): Promise<SessionRecord | null> {
          const record = await super.find(id, now, touchInterval);
          if (this.gate) await new Promise<void>((resolve) => (release = resolve));
          return record;
        }
      }
      const store = new GatedStore({ sweepInterval: 0, clock });
      const cached = new SessionManager({ secrets: SECRET, store, clock });
      const other = new SessionManager({ secrets: SECRET, store, clock });
      await settled();
      const cookie = await signIn(cached);
      // A write through the other manager drops the entry here: the next read is a miss.
      const writer = await read(other, cookie);
      writer.set('seen', true);
      await other.commit(writer);
      store.gate = true;
      const racing = read(cached, cookie);
      await settled();
      assert.ok(release, 'the miss is parked with the record it read');
      store.gate = false;
      await (await read(other, cookie)).signOut();
      release?.();
      await racing; // concurrent with the sign-out: either answer is fine for this one
      assert.equal((await read(cached, cookie)).principal, null, 'after the sign-out resolved, the old record is not served');
    });

    for (const path of ['create', 'rotate'] as const) {
      it(`a ${path} whose new id is invalidated before its write returns (revokeAll elsewhere) does not cache the record`, async () => {
        const clock = manualClock();
        /** Ends the new session in the store, as another instance's revokeAll would, before the write's reply arrives. */
        class RevokedMeanwhileStore extends MemoryStore {
          revoke = false;
          finds = 0;
          override async create(record: SessionRecord): Promise<void> {
            await super.create(record);
            if (this.revoke) await super.destroy(record.id);
          }
          override async rotate(oldId: string, next: SessionRecord): Promise<boolean> {
            const rotated = await super.rotate(oldId, next);
            if (this.revoke) await super.destroy(next.id);
            return rotated;
          }
          override find(id: string, now: number, touchInterval: number): Promise<SessionRecord | null> {
            this.finds++;
            return super.find(id, now, touchInterval);
          }
        }
        const store = new RevokedMeanwhileStore({ sweepInterval: 0, clock });
        const manager = new SessionManager({ secrets: SECRET, store, clock });
        await settled();
        let cookie: string;
        if (path === 'create') {
          store.revoke = true;
          cookie = await signIn(manager);
        } else {
          const first = await signIn(manager);
          const session = await read(manager, first);
          store.revoke = true;
          await session.signIn({ ...alice, roles: ['user', 'admin'] }); // a privilege change: a new id
          const rotated = (await manager.commit(session)).find(([name]) => name === 'Set-Cookie')?.[1];
          assert.ok(rotated, 'the sign-in rotated the id');
          cookie = rotated.split(';')[0] as string;
        }
        store.revoke = false;
        const finds = store.finds;
        assert.equal((await read(manager, cookie)).principal, null, 'the revoked session is not accepted');
        assert.equal(store.finds, finds + 1, 'the read asked the store: nothing was cached for the new id');
      });
    }

    it('finding #11 — a flood of invalidations of distinct ids leaves tombstones only for ids being read, and a late fill is still refused', () => {
      const cache = new SessionCache({ maxEntries: 100, maxBytes: 1 << 20 });
      const record = (id: string): SessionRecord => ({
        id,
        handle: `h-${id}`,
        principal: alice,
        data: {},
        createdAt: 0,
        lastSeenAt: 0,
        authenticatedAt: 0,
        idleTimeout: 1800 * SECOND,
        idleExpiresAt: 1800 * SECOND,
        absoluteExpiresAt: 86_400 * SECOND,
        remember: false,
        rotationDue: false,
        userAgent: null,
        ip: null,
      });
      const began = cache.beginFind('x'); // a read of x is in flight, with the record as it was
      cache.invalidate(['x']); // x is signed out meanwhile
      for (let i = 0; i < 100_000; i++) cache.invalidate([`flood-${i}`]);
      assert.equal(cache.stats().tombstones, 1, 'only the id being read keeps one');
      // Reads of other ids begin and end all along, each raced by its own invalidation.
      for (let i = 0; i < 10_000; i++) {
        const id = `read-${i}`;
        const start = cache.beginFind(id);
        cache.invalidate([id]);
        cache.fill(id, record(id), start);
        assert.equal(cache.peek(id), undefined, 'a raced fill is refused');
      }
      assert.equal(cache.stats().tombstones, 1, 'theirs went with their reads; x is still remembered');
      cache.fill('x', record('x'), began);
      assert.equal(cache.peek('x'), undefined, 'the late fill of x does not put the signed-out record back');
      assert.equal(cache.stats().tombstones, 0);
      const fresh = cache.beginFind('x');
      cache.fill('x', record('x'), fresh);
      assert.ok(cache.peek('x'), 'a read that began after the invalidation fills again');
    });

    it('finding #11 — sign-outs of many sessions on another manager, with a read parked, keep the tombstones bounded', async () => {
      const clock = manualClock();
      let release: (() => void) | undefined;
      class GatedStore extends MemoryStore {
        gate = false;
        override async find(id: string, now: number, touchInterval: number): Promise<SessionRecord | null> {
          const record = await super.find(id, now, touchInterval);
          if (this.gate) await new Promise<void>((resolve) => (release = resolve));
          return record;
        }
      }
      const store = new GatedStore({ sweepInterval: 0, clock });
      const cached = new SessionManager({ secrets: SECRET, store, clock, maxSessionsPerUser: Infinity });
      const other = new SessionManager({ secrets: SECRET, store, clock, maxSessionsPerUser: Infinity });
      await settled();
      const cookie = await signIn(other);
      store.gate = true;
      const racing = read(cached, cookie);
      await settled();
      assert.ok(release, 'the read is parked with the record it read');
      store.gate = false;
      for (let i = 0; i < 2000; i++) {
        const session = await read(other, await signIn(other, { id: `user-${i}`, roles: [], authVersion: 1 }));
        await session.signOut(); // each one invalidates its id in `cached` too
      }
      assert.ok((cached.cacheStats()?.tombstones ?? Infinity) <= 1, JSON.stringify(cached.cacheStats()));
      await (await read(other, cookie)).signOut();
      release?.();
      await racing;
      assert.equal(cached.cacheStats()?.tombstones, 0);
      assert.equal((await read(cached, cookie)).principal, null, 'the parked read did not put the signed-out record back');
    });

    it('maxEntries — the least recently used record is evicted, and then read from the store', async () => {
      const { manager, store } = setup({ cache: { maxEntries: 2 } });
      await settled();
      const cookies = [];
      for (const id of ['a', 'b', 'c']) cookies.push(await signIn(manager, { id, roles: [], authVersion: 1 }));
      assert.equal(manager.cacheStats()?.entries, 2);
      assert.equal(manager.cacheStats()?.evictions, 1);
      const before = store.finds;
      assert.equal((await read(manager, cookies[0] as string)).principal?.id, 'a');
      assert.equal(store.finds - before, 1);
    });

    it('maxBytes — the records held never add up to more than the bound', async () => {
      const { manager } = setup({ cache: { maxBytes: 2048 } });
      await settled();
      for (let i = 0; i < 20; i++) await signIn(manager, { id: `user-${i}`, roles: ['user'], authVersion: 1, claims: { name: 'x'.repeat(200) } });
      const stats = manager.cacheStats();
      assert.ok(stats !== null && stats.bytes <= 2048 && stats.entries > 0 && stats.evictions > 0, JSON.stringify(stats));
    });
  });

  describe('its size estimate (maxBytes)', () => {
    /** Heap used after full collections, with `gc` reached through V8's flag (the test runner starts without --expose-gc). */
    function heapAfterGc(): number {
      v8.setFlagsFromString('--expose-gc');
      const gc = runInNewContext('gc') as () => void;
      gc();
      gc();
      return v8.getHeapStatistics().used_heap_size;
    }
    const randomString = (bytes: number) => randomBytes(bytes).toString('base64url');
    /** A record as a signed-in browser's: SHA-256 id, handle, a principal with claims, a user agent, data. */
    const browserRecord = (i: number, data: Record<string, string>, claims?: Record<string, string>): SessionRecord => ({
      id: randomString(32),
      handle: randomString(16),
      principal: { id: randomUUID(), roles: ['user'], authVersion: 1, claims: claims ?? { email: `user${i}@example.com`, name: `User ${i}` } },
      data,
      createdAt: Date.now() - i,
      lastSeenAt: Date.now(),
      authenticatedAt: Date.now() - i,
      idleTimeout: 1_800_000,
      idleExpiresAt: Date.now() + 1_800_000,
      absoluteExpiresAt: Date.now() + 86_400_000,
      remember: false,
      rotationDue: false,
      userAgent: `Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.${i} Safari/537.36`,
      ip: `10.0.${i % 256}.${i % 200}`,
    });

    const noClaims = () => undefined;
    for (const [label, data, claims] of [
      ['without data', () => ({}), noClaims],
      ['with a CSRF secret and a flash message in data', () => ({ csrf: randomString(32), flash: 'Signed in.' }), noClaims],
      ['with non-Latin-1 data (two-byte strings)', () => ({ note: 'Zürich → 東京 '.repeat(8) }), noClaims],
      // Claim names no other session has (per-resource grants keyed by id): the names and the object's layout are this entry's alone.
      ['with 50 claims of its own per principal (UUIDs as names)', () => ({}), () => Object.fromEntries(Array.from({ length: 50 }, () => [randomUUID(), 'rw']))],
    ] as const) {
      it(`counts the heap it holds within 25 %, ${label}`, () => {
        const entries = 20_000;
        const cache = new SessionCache({ maxEntries: entries + 1, maxBytes: 1 << 30 });
        cache.put(browserRecord(0, data(), claims())); // shapes and code paths settled before the baseline
        const before = heapAfterGc();
        for (let i = 1; i <= entries; i++) cache.put(browserRecord(i, data(), claims()));
        const held = heapAfterGc() - before;
        const estimated = cache.stats().bytes;
        assert.equal(cache.stats().entries, entries + 1);
        const ratio = estimated / held;
        console.log(`cache size estimate, ${label}: ${(estimated / entries).toFixed(0)} B per entry estimated, ${(held / entries).toFixed(0)} B measured (${ratio.toFixed(2)})`);
        assert.ok(ratio > 0.8 && ratio < 1.25, `estimated ${(estimated / entries).toFixed(0)} B per entry, the heap grew ${(held / entries).toFixed(0)} B per entry (ratio ${ratio.toFixed(2)})`);
      });
    }
  });

  describe('when it is configured', () => {
    it('cache: false — every read asks the store', async () => {
      const { manager, store } = setup({ cache: false });
      await settled();
      const cookie = await signIn(manager);
      const before = store.finds;
      await read(manager, cookie);
      await read(manager, cookie);
      assert.equal(store.finds - before, 2);
      assert.equal(manager.cacheStats(), null);
    });

    it('a store that does not declare its coherence gets no cache, and asking for one is refused', () => {
      const plain: SessionStore = new Proxy(new MemoryStore({ sweepInterval: 0 }), {
        get: (target, property, receiver) => (property === 'coherence' ? undefined : Reflect.get(target, property, receiver)),
      });
      assert.equal(new SessionManager({ secrets: SECRET, store: plain }).cacheStats(), null);
      assert.throws(
        () => new SessionManager({ secrets: SECRET, store: plain, cache: { maxEntries: 10 } }),
        (error: unknown) => error instanceof InvalidOptionsError && /does not declare how other processes/.test(error.message),
      );
    });

    it('invalid sizes are refused at start-up with the option named', () => {
      assert.throws(() => new SessionManager({ secrets: SECRET, store: new MemoryStore(), cache: { maxEntries: 0 } }), /cache\.maxEntries must be a positive integer, got 0/);
      assert.throws(() => new SessionManager({ secrets: SECRET, store: new MemoryStore(), cache: { maxBytes: 10 } }), /cache\.maxBytes must be an integer of at least 1024, got 10/);
    });
  });

  describe('when the store is PostgreSQL on embedded PGlite (exclusive: on by default)', () => {
    it('finding #2 — a cached copy past its idle deadline does not end a session another manager touched', async () => {
      const db = await PGlite.create();
      try {
        const clock = manualClock(Date.now());
        const store = new PostgresStore({ client: pgliteClient(db), sweepInterval: 0, clock });
        await store.migrate();
        const options = { secrets: SECRET, store, clock, idleTimeout: 60, touchInterval: 10 };
        const a = new SessionManager(options);
        const b = new SessionManager(options);
        const direct = new SessionManager({ ...options, cache: false });
        await settled();
        const cookie = await signIn(a);
        clock.advance(11 * SECOND);
        assert.equal((await read(b, cookie)).principal?.id, 'alice');
        clock.advance(54 * SECOND);
        assert.equal((await read(a, cookie)).principal?.id, 'alice');
        await settled();
        assert.equal((await read(direct, cookie)).principal?.id, 'alice', 'the store’s record survived');
        await store.close();
      } finally {
        await db.close();
      }
    });

    it('load — no query per read, and a sign-out through another manager is seen at once', async () => {
      const db = await PGlite.create();
      try {
        const store = new PostgresStore({ client: pgliteClient(db), sweepInterval: 0 });
        await store.migrate();
        const a = new SessionManager({ secrets: SECRET, store });
        const b = new SessionManager({ secrets: SECRET, store });
        await settled();
        const cookie = await signIn(a);
        for (let i = 0; i < 5; i++) assert.equal((await read(b, cookie)).principal?.id, 'alice');
        assert.equal(b.cacheStats()?.hits, 4);
        assert.equal(a.cacheStats()?.hits, 0);
        await (await read(a, cookie)).signOut();
        assert.equal((await read(b, cookie)).principal, null);
        await store.close();
      } finally {
        await db.close();
      }
    });
  });
});
