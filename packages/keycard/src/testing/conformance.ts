import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { freshStores } from './fixtures.js';
import { SessionExistsError, UnsupportedOperationError } from '../core/errors.js';
import { isLive, touchDue, touched, type Principal, type SessionRecord } from '../core/record.js';
import type { SessionStore } from '../core/store.js';

/**
 * A guarantee some stores cannot give (adapters over foreign backends).
 * - `perUserIndex`: listByUser, revokeAll and refreshPrincipal reject with
 *   UnsupportedOperationError; the suite asserts that explicit refusal instead.
 * - `atomicUpdate`: update is read-then-write; the concurrent-writers test is
 *   skipped, since a lost key can be neither promised nor reliably provoked.
 * - `crossProcessRevocation`: onRevoked reaches this process only. The suite
 *   drives one store instance at a time, so no test changes; declared so that
 *   a store's description of itself is complete.
 */
export type StoreCapability = 'perUserIndex' | 'atomicUpdate' | 'crossProcessRevocation';

export interface ConformanceOptions {
  /** A reason to skip the whole suite (a service that is not running), or false. */
  readonly skip?: string | false;
  /** Runs once after the suite (close shared clients, stop servers). */
  readonly teardown?: () => Promise<void>;
  /** Capabilities the store lacks. Default: none, and every test runs as written. */
  readonly lacks?: ReadonlyArray<StoreCapability>;
}

const MINUTE = 60_000;

/** A record relative to the wall clock: stores with TTLs (Redis, SQL sweeps) read it as real time. */
export function sampleRecord(overrides: Partial<SessionRecord> = {}): SessionRecord {
  const now = Date.now();
  return {
    id: randomBytes(32).toString('base64url'),
    handle: randomBytes(16).toString('base64url'),
    principal: null,
    data: {},
    createdAt: now,
    lastSeenAt: now,
    authenticatedAt: null,
    idleTimeout: 30 * MINUTE,
    idleExpiresAt: now + 30 * MINUTE,
    absoluteExpiresAt: now + 12 * 60 * MINUTE,
    remember: false,
    rotationDue: false,
    userAgent: null,
    ip: null,
    ...overrides,
  };
}

export function samplePrincipal(overrides: Partial<Principal> = {}): Principal {
  return { id: `user-${randomBytes(6).toString('hex')}`, roles: ['user'], authVersion: 1, ...overrides };
}

/**
 * Subscribes (resolving once the store confirms the subscription) and gives a
 * promise of the first handles published, rejected after `ms`: a deadline, not a sleep.
 */
async function subscribeOnce(store: SessionStore, ms = 2000): Promise<{ first: Promise<readonly string[]> }> {
  let settle: (handles: readonly string[]) => void = () => {};
  const first = new Promise<readonly string[]>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no revocation published within ${ms} ms`)), ms);
    settle = (handles) => {
      clearTimeout(timer);
      resolve(handles);
    };
  });
  const unsubscribe = await store.onRevoked((handles) => settle(handles));
  // Wrapped in an object: an async function returning a bare promise would wait for it.
  return { first: first.finally(() => unsubscribe()) };
}

/**
 * The behaviour every `SessionStore` must have, as one suite each store runs
 * unchanged: `describeSessionStore('redis', () => makeStore())`. Each test gets
 * a fresh store from `makeStore` and closes it afterwards.
 */
export function describeSessionStore(
  name: string,
  makeStore: () => SessionStore | Promise<SessionStore>,
  options: ConformanceOptions = {},
): void {
  describe(`${name} store conformance`, { skip: options.skip || false }, () => {
    const fresh = freshStores(makeStore, options.teardown);
    const lacks = new Set(options.lacks ?? []);
    const indexed = !lacks.has('perUserIndex');

    /** The user's live session ids as listed, or, without a per-user index, the explicit refusal. */
    const expectListed = async (store: SessionStore, userId: string, ids: readonly string[]): Promise<void> => {
      if (indexed) assert.deepEqual((await store.listByUser(userId, Date.now())).map((r) => r.id), ids);
      else await assert.rejects(store.listByUser(userId, Date.now()), UnsupportedOperationError);
    };

    type IndexMethod = 'listByUser' | 'revokeAll' | 'refreshPrincipal';
    /** A test of the per-user index; without one, a test that the method refuses and changes nothing. */
    const itIndexed = (method: IndexMethod, behaviour: string, fn: () => Promise<void>): void => {
      if (indexed) {
        it(`${method} — ${behaviour}`, fn);
        return;
      }
      it(`${method} — rejects with UnsupportedOperationError instead of: ${behaviour}`, async () => {
        const store = await fresh();
        const principal = samplePrincipal();
        const record = sampleRecord({ principal });
        await store.create(record);
        const call =
          method === 'listByUser'
            ? store.listByUser(principal.id, Date.now())
            : method === 'revokeAll'
              ? store.revokeAll(principal.id)
              : store.refreshPrincipal({ ...principal, roles: ['admin'] });
        await assert.rejects(call, UnsupportedOperationError);
        assert.deepEqual(await store.find(record.id, Date.now(), Infinity), record);
      });
    };

    it('create/find — round-trips every field', async () => {
      const store = await fresh();
      const principal = samplePrincipal({ roles: ['user', 'admin'], claims: { name: 'Zoë', n: 3 } });
      const record = sampleRecord({
        principal,
        data: { cart: [1, 'two', { three: true }], note: 'ünïcødé ✓', empty: null, n: 1.5 },
        authenticatedAt: Date.now() - 1000,
        remember: true,
        userAgent: 'Mozilla/5.0',
        ip: '203.0.113.7',
      });
      await store.create(record);
      assert.deepEqual(await store.find(record.id, record.lastSeenAt, Infinity), record);
    });

    it('create — rejects an id that is taken', async () => {
      const store = await fresh();
      const record = sampleRecord();
      await store.create(record);
      await assert.rejects(store.create({ ...record, handle: 'other' }), SessionExistsError);
      assert.equal((await store.find(record.id, Date.now(), Infinity))?.handle, record.handle);
    });

    it('find — returns null for an unknown id', async () => {
      const store = await fresh();
      assert.equal(await store.find(sampleRecord().id, Date.now(), Infinity), null);
    });

    it('find — returns an independent copy', async () => {
      const store = await fresh();
      const record = sampleRecord({ data: { list: [1] } });
      await store.create(record);
      const first = await store.find(record.id, Date.now(), Infinity);
      assert.ok(first);
      (first.data['list'] as number[]).push(2);
      assert.deepEqual((await store.find(record.id, Date.now(), Infinity))?.data, { list: [1] });
    });

    it('find — does not touch inside the touch interval', async () => {
      const store = await fresh();
      const record = sampleRecord();
      await store.create(record);
      const found = await store.find(record.id, record.lastSeenAt + MINUTE, 5 * MINUTE);
      assert.equal(found?.lastSeenAt, record.lastSeenAt);
      assert.equal(found?.idleExpiresAt, record.idleExpiresAt);
    });

    it('find — touches once the interval has passed, and keeps it', async () => {
      const store = await fresh();
      const record = sampleRecord();
      await store.create(record);
      const later = record.lastSeenAt + 10 * MINUTE;
      const found = await store.find(record.id, later, 5 * MINUTE);
      assert.equal(found?.lastSeenAt, later);
      assert.equal(found?.idleExpiresAt, later + record.idleTimeout);
      const again = await store.find(record.id, later, Infinity);
      assert.equal(again?.lastSeenAt, later);
      assert.equal(again?.idleExpiresAt, later + record.idleTimeout);
    });

    it('find — a touch never extends past the absolute expiry', async () => {
      const store = await fresh();
      const now = Date.now();
      const record = sampleRecord({ absoluteExpiresAt: now + 35 * MINUTE });
      await store.create(record);
      const found = await store.find(record.id, now + 20 * MINUTE, MINUTE);
      assert.equal(found?.idleExpiresAt, now + 35 * MINUTE);
    });

    it('find — never touches an expired record back to life', async () => {
      const store = await fresh();
      const now = Date.now();
      const record = sampleRecord({ idleTimeout: MINUTE, idleExpiresAt: now + MINUTE });
      await store.create(record);
      const found = await store.find(record.id, now + 2 * MINUTE, 0);
      if (found !== null) assert.equal(found.idleExpiresAt, now + MINUTE);
      const again = await store.find(record.id, now + 2 * MINUTE, Infinity);
      if (again !== null) assert.equal(again.idleExpiresAt, now + MINUTE);
    });

    /**
     * The touch rule is written once, in record.ts (`touchDue`, `touched`);
     * the memory store calls it, and the Redis FIND script and the PostgreSQL
     * statement restate it in their own language. These cases hold every
     * store to that one definition at its boundaries.
     */
    const touchCases: ReadonlyArray<readonly [string, (base: number) => Partial<SessionRecord>, number, number]> = [
      // [case, record fields relative to base, now - base, touch interval]
      ['exactly one interval since the last touch', () => ({}), 5 * MINUTE, 5 * MINUTE],
      ['one millisecond short of the interval', () => ({}), 5 * MINUTE - 1, 5 * MINUTE],
      ['a zero interval', () => ({}), 1, 0],
      ['an infinite interval', () => ({}), 20 * MINUTE, Infinity],
      ['a touch clamped to the absolute expiry', (base) => ({ idleExpiresAt: base + 12 * MINUTE, absoluteExpiresAt: base + 12 * MINUTE }), 10 * MINUTE, MINUTE],
      ['the instant the idle expiry is reached', (base) => ({ idleTimeout: MINUTE, idleExpiresAt: base + MINUTE }), MINUTE, 0],
      ['the instant the absolute expiry is reached', (base) => ({ idleExpiresAt: base + 20 * MINUTE, absoluteExpiresAt: base + 20 * MINUTE }), 20 * MINUTE, 0],
    ];
    for (const [what, fields, elapsed, interval] of touchCases) {
      it(`find — applies the touch rule of record.ts: ${what}`, async () => {
        const store = await fresh();
        const base = Date.now();
        const record = sampleRecord({ createdAt: base, lastSeenAt: base, ...fields(base) });
        await store.create(record);
        const now = base + elapsed;
        const expected = touchDue(record, now, interval) ? touched(record, now) : record;
        const found = await store.find(record.id, now, interval);
        // A store may already have dropped a record that expired (a TTL); one it returns must follow the rule.
        if (found === null && !isLive(record, now)) return;
        assert.deepEqual(found, expected);
      });
    }

    it('update — sets and removes only the named keys', async () => {
      const store = await fresh();
      const record = sampleRecord({ data: { a: 1, b: 2, c: 3 } });
      await store.create(record);
      assert.equal(await store.update(record.id, { set: { a: 10, d: { x: [1] } }, unset: ['b'] }), true);
      assert.deepEqual((await store.find(record.id, Date.now(), Infinity))?.data, { a: 10, c: 3, d: { x: [1] } });
    });

    const notAtomic = lacks.has('atomicUpdate') && 'the store lacks atomicUpdate: its update is read-then-write';
    it('update — concurrent writers of different keys both win', { skip: notAtomic }, async () => {
      const store = await fresh();
      const record = sampleRecord({ data: { base: true } });
      await store.create(record);
      const writes = Array.from({ length: 20 }, (_, i) => store.update(record.id, { set: { [`k${i}`]: i } }));
      assert.deepEqual(await Promise.all(writes), Array(20).fill(true));
      const data = (await store.find(record.id, Date.now(), Infinity))?.data ?? {};
      assert.equal(Object.keys(data).length, 21);
      for (let i = 0; i < 20; i++) assert.equal(data[`k${i}`], i);
    });

    it('update — leaves expiry and metadata alone', async () => {
      const store = await fresh();
      const record = sampleRecord({ principal: samplePrincipal() });
      await store.create(record);
      await store.update(record.id, { set: { x: 1 } });
      const found = await store.find(record.id, Date.now(), Infinity);
      assert.deepEqual({ ...found, data: {} }, { ...record, data: {} });
    });

    it('update — returns false for an unknown id and creates nothing', async () => {
      const store = await fresh();
      const id = sampleRecord().id;
      assert.equal(await store.update(id, { set: { x: 1 } }), false);
      assert.equal(await store.find(id, Date.now(), Infinity), null);
    });

    it('update — after destroy returns false and never resurrects', async () => {
      const store = await fresh();
      const record = sampleRecord({ principal: samplePrincipal() });
      await store.create(record);
      await store.destroy(record.id);
      assert.equal(await store.update(record.id, { set: { x: 1 } }), false);
      assert.equal(await store.find(record.id, Date.now(), Infinity), null);
      await expectListed(store, record.principal?.id ?? '', []);
    });

    it('update — after rotate returns false for the old id', async () => {
      const store = await fresh();
      const record = sampleRecord({ data: { a: 1 } });
      await store.create(record);
      const next = { ...sampleRecord(), handle: record.handle, data: { a: 1 } };
      assert.equal(await store.rotate(record.id, next), true);
      assert.equal(await store.update(record.id, { set: { a: 2 } }), false);
      assert.equal(await store.find(record.id, Date.now(), Infinity), null);
      assert.deepEqual((await store.find(next.id, Date.now(), Infinity))?.data, { a: 1 });
    });

    it('update — can clear the rotation flag', async () => {
      const store = await fresh();
      const record = sampleRecord({ rotationDue: true });
      await store.create(record);
      assert.equal(await store.update(record.id, { rotationDue: false }), true);
      assert.equal((await store.find(record.id, Date.now(), Infinity))?.rotationDue, false);
    });

    it('rotate — moves the record to the new id and the user index with it', async () => {
      const store = await fresh();
      const principal = samplePrincipal();
      const record = sampleRecord({ principal, data: { keep: 'me' } });
      await store.create(record);
      const next = sampleRecord({ principal, handle: record.handle, data: { keep: 'me' }, createdAt: record.createdAt });
      assert.equal(await store.rotate(record.id, next), true);
      assert.equal(await store.find(record.id, Date.now(), Infinity), null);
      assert.deepEqual(await store.find(next.id, next.lastSeenAt, Infinity), next);
      await expectListed(store, principal.id, [next.id]);
    });

    it('rotate — an anonymous session can become a signed-in one', async () => {
      const store = await fresh();
      const record = sampleRecord();
      await store.create(record);
      const principal = samplePrincipal();
      const next = sampleRecord({ principal });
      assert.equal(await store.rotate(record.id, next), true);
      await expectListed(store, principal.id, [next.id]);
    });

    it('rotate — returns false and stores nothing when the old id is gone', async () => {
      const store = await fresh();
      const principal = samplePrincipal();
      const record = sampleRecord({ principal });
      await store.create(record);
      await store.destroy(record.id);
      const next = sampleRecord({ principal });
      assert.equal(await store.rotate(record.id, next), false);
      assert.equal(await store.find(next.id, Date.now(), Infinity), null);
      await expectListed(store, principal.id, []);
    });

    it('destroy — removes the record once and reports whether it existed', async () => {
      const store = await fresh();
      const principal = samplePrincipal();
      const record = sampleRecord({ principal });
      await store.create(record);
      assert.equal(await store.destroy(record.id), true);
      assert.equal(await store.destroy(record.id), false);
      assert.equal(await store.find(record.id, Date.now(), Infinity), null);
      await expectListed(store, principal.id, []);
    });

    itIndexed('listByUser', 'lists only that user’s live sessions, oldest first', async () => {
      const store = await fresh();
      const now = Date.now();
      const alice = samplePrincipal();
      const bob = samplePrincipal();
      const second = sampleRecord({ principal: alice, createdAt: now - 1000, userAgent: 'phone', ip: '::1' });
      const first = sampleRecord({ principal: alice, createdAt: now - 2000 });
      const expired = sampleRecord({ principal: alice, idleExpiresAt: now + 500, idleTimeout: 500 });
      await store.create(second);
      await store.create(first);
      await store.create(expired);
      await store.create(sampleRecord({ principal: bob }));
      await store.create(sampleRecord());
      const listed = await store.listByUser(alice.id, now + 1000);
      assert.deepEqual(listed.map((r) => r.id), [first.id, second.id]);
      assert.deepEqual(listed[1], second);
    });

    itIndexed('listByUser', 'returns an empty list for a user without sessions', async () => {
      const store = await fresh();
      assert.deepEqual(await store.listByUser(samplePrincipal().id, Date.now()), []);
    });

    itIndexed('revokeAll', 'ends every session of the user and returns their handles', async () => {
      const store = await fresh();
      const alice = samplePrincipal();
      const bob = samplePrincipal();
      const a1 = sampleRecord({ principal: alice });
      const a2 = sampleRecord({ principal: alice });
      const b1 = sampleRecord({ principal: bob });
      for (const r of [a1, a2, b1]) await store.create(r);
      const handles = await store.revokeAll(alice.id);
      assert.deepEqual([...handles].sort(), [a1.handle, a2.handle].sort());
      assert.equal(await store.find(a1.id, Date.now(), Infinity), null);
      assert.equal(await store.find(a2.id, Date.now(), Infinity), null);
      assert.equal(await store.update(a2.id, { set: { x: 1 } }), false);
      assert.deepEqual(await store.listByUser(alice.id, Date.now()), []);
      assert.equal((await store.find(b1.id, Date.now(), Infinity))?.id, b1.id);
    });

    itIndexed('revokeAll', 'keeps the excepted session', async () => {
      const store = await fresh();
      const alice = samplePrincipal();
      const keep = sampleRecord({ principal: alice });
      const drop = sampleRecord({ principal: alice });
      await store.create(keep);
      await store.create(drop);
      assert.deepEqual(await store.revokeAll(alice.id, keep.id), [drop.handle]);
      assert.deepEqual((await store.listByUser(alice.id, Date.now())).map((r) => r.id), [keep.id]);
    });

    itIndexed('revokeAll', 'returns an empty list for a user without sessions', async () => {
      const store = await fresh();
      assert.deepEqual(await store.revokeAll(samplePrincipal().id), []);
    });

    itIndexed('refreshPrincipal', 'replaces the principal of each live session and flags rotation', async () => {
      const store = await fresh();
      const alice = samplePrincipal();
      const bob = samplePrincipal();
      const a1 = sampleRecord({ principal: alice, data: { kept: 1 } });
      const a2 = sampleRecord({ principal: alice });
      const b1 = sampleRecord({ principal: bob });
      for (const r of [a1, a2, b1]) await store.create(r);
      const promoted: Principal = { ...alice, roles: ['user', 'admin'], authVersion: 2 };
      assert.equal(await store.refreshPrincipal(promoted), 2);
      for (const r of [a1, a2]) {
        const found = await store.find(r.id, Date.now(), Infinity);
        assert.deepEqual(found?.principal, promoted);
        assert.equal(found?.rotationDue, true);
      }
      assert.deepEqual((await store.find(a1.id, Date.now(), Infinity))?.data, { kept: 1 });
      const untouched = await store.find(b1.id, Date.now(), Infinity);
      assert.deepEqual(untouched?.principal, bob);
      assert.equal(untouched?.rotationDue, false);
    });

    it('onRevoked — publishes the handle of a destroyed session', async () => {
      const store = await fresh();
      const record = sampleRecord({ principal: samplePrincipal() });
      await store.create(record);
      const { first: published } = await subscribeOnce(store);
      await store.destroy(record.id);
      assert.deepEqual(await published, [record.handle]);
    });

    const revokedBy = indexed ? 'revokeAll' : 'destroy (no per-user index)';
    it(`onRevoked — publishes ${revokedBy}, and not a rotation`, async () => {
      const store = await fresh();
      const alice = samplePrincipal();
      const rotated = sampleRecord({ principal: alice });
      const revoked = sampleRecord({ principal: samplePrincipal() });
      await store.create(rotated);
      await store.create(revoked);
      const { first: published } = await subscribeOnce(store);
      await store.rotate(rotated.id, sampleRecord({ principal: alice, handle: rotated.handle }));
      if (indexed) await store.revokeAll(revoked.principal?.id ?? '');
      else await store.destroy(revoked.id);
      assert.deepEqual(await published, [revoked.handle]);
    });

    it('ping — resolves while the backend is up', async () => {
      const store = await fresh();
      await store.ping();
    });
  });
}
