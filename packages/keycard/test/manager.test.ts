import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  MemoryStore,
  SessionLimitError,
  SessionManager,
  StoreUnavailableError,
  type Principal,
  type ResponseHeaders,
  type SessionEvent,
  type SessionOptions,
  type SessionStore,
} from '../src/index.js';

const SECRET = 'k'.repeat(32);
const MINUTE = 60_000;
const alice: Principal = { id: 'alice', roles: ['user'], authVersion: 1 };

/** A clock the test moves by hand. */
function manualClock(start = Date.UTC(2026, 0, 1)) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

/** The real MemoryStore, with every call counted. */
class CountingStore extends MemoryStore {
  readonly calls: Record<string, number> = {};
  constructor(clock: { now(): number }) {
    super({ sweepInterval: 0, clock });
    for (const method of ['find', 'create', 'update', 'rotate', 'destroy', 'listByUser', 'revokeAll', 'refreshPrincipal'] as const) {
      const original = this[method].bind(this) as (...args: unknown[]) => Promise<unknown>;
      (this as unknown as Record<string, unknown>)[method] = (...args: unknown[]) => {
        this.calls[method] = (this.calls[method] ?? 0) + 1;
        return original(...args);
      };
    }
  }
  count(method: string): number {
    return this.calls[method] ?? 0;
  }
  writes(): number {
    return ['create', 'update', 'rotate', 'destroy'].reduce((sum, m) => sum + this.count(m), 0);
  }
}

function setup(options: Partial<SessionOptions> = {}) {
  const clock = manualClock();
  const store = new CountingStore(clock);
  const manager = new SessionManager({ secrets: SECRET, store, clock, idleTimeout: 1800, absoluteTimeout: 7200, ...options });
  const events: SessionEvent[] = [];
  manager.events.on('*', (event) => events.push(event));
  return { clock, store, manager, events };
}

function header(headers: ResponseHeaders, name: string): string | undefined {
  return headers.find(([n]) => n.toLowerCase() === name.toLowerCase())?.[1];
}

/** `sid=<value>` from a commit's Set-Cookie, for the next request's Cookie header. */
function cookieFrom(headers: ResponseHeaders): string {
  const setCookie = header(headers, 'Set-Cookie');
  assert.ok(setCookie, 'expected a Set-Cookie header');
  return setCookie.split(';')[0] as string;
}

async function signedIn(manager: SessionManager, options: { remember?: boolean } = {}) {
  const session = await manager.load({ secure: false });
  await session.signIn(alice, options);
  const headers = await manager.commit(session);
  return { cookie: cookieFrom(headers), headers, session };
}

describe('SessionManager', () => {
  describe('when a request has no session', () => {
    it('load — costs no store call and commit sets no cookie (lazy)', async () => {
      const { manager, store } = setup();
      const session = await manager.load({ secure: false, cookieHeader: 'theme=dark' });
      assert.equal(session.principal, null);
      assert.equal(session.get('x'), undefined);
      assert.deepEqual(await manager.commit(session), []);
      assert.equal(store.count('find'), 0);
      assert.equal(store.size, 0);
    });

    it('load — a forged signature never reaches the store', async () => {
      const { manager, store } = setup();
      const forged = `sid=${'A'.repeat(43)}.${'B'.repeat(43)}`;
      const session = await manager.load({ secure: false, cookieHeader: forged });
      assert.equal(session.handle, null);
      assert.equal(store.count('find'), 0);
    });

    it('set — the first write creates the session at commit', async () => {
      const { manager, store, events } = setup();
      const session = await manager.load({ secure: false, userAgent: 'UA', ip: '127.0.0.1' });
      session.set('cart', [1, 2]);
      const headers = await manager.commit(session);
      assert.match(header(headers, 'Set-Cookie') ?? '', /^sid=[\w-]{43}\.[\w-]{43}; Path=\/; HttpOnly; SameSite=Lax$/);
      assert.equal(header(headers, 'Cache-Control'), 'no-store');
      assert.equal(store.size, 1);
      assert.deepEqual(events.map((e) => e.type), ['created']);
      const next = await manager.load({ secure: false, cookieHeader: cookieFrom(headers) });
      assert.deepEqual(next.get('cart'), [1, 2]);
      assert.equal(next.snapshot?.userAgent, 'UA');
    });
  });

  describe('when signing in', () => {
    it('signIn — issues a new id and kills the anonymous one (fixation)', async () => {
      const { manager } = setup();
      const anon = await manager.load({ secure: false });
      anon.set('lang', 'fr');
      const anonCookie = cookieFrom(await manager.commit(anon));
      const session = await manager.load({ secure: false, cookieHeader: anonCookie });
      await session.signIn(alice);
      const cookie = cookieFrom(await manager.commit(session));
      assert.notEqual(cookie, anonCookie);
      assert.equal((await manager.load({ secure: false, cookieHeader: anonCookie })).handle, null);
      const next = await manager.load({ secure: false, cookieHeader: cookie });
      assert.deepEqual(next.principal, alice);
      assert.equal(next.get('lang'), 'fr');
    });

    it('signIn — as another user ends the previous user’s session: new handle, no data, revocation published', async () => {
      const { manager, store } = setup();
      const { cookie, session: first } = await signedIn(manager);
      const before = await manager.load({ secure: false, cookieHeader: cookie });
      before.set('alice-only', true);
      await manager.commit(before);
      const revoked: string[] = [];
      await store.onRevoked((handles) => revoked.push(...handles));
      const session = await manager.load({ secure: false, cookieHeader: cookie });
      await session.signIn({ id: 'bob', roles: ['user'], authVersion: 1 });
      const bobCookie = cookieFrom(await manager.commit(session));
      const bob = await manager.load({ secure: false, cookieHeader: bobCookie });
      assert.equal(bob.principal?.id, 'bob');
      assert.notEqual(bob.handle, first.handle);
      assert.equal(bob.get('alice-only'), undefined);
      assert.deepEqual(revoked, [first.handle]);
      assert.deepEqual(await manager.listSessions('alice'), []);
    });

    it('signIn — keepData false starts the signed-in session empty', async () => {
      const { manager } = setup();
      const session = await manager.load({ secure: false });
      session.set('lang', 'fr');
      await session.signIn(alice, { keepData: false });
      const cookie = cookieFrom(await manager.commit(session));
      assert.equal((await manager.load({ secure: false, cookieHeader: cookie })).get('lang'), undefined);
    });

    it('signIn — remember me gives a persistent cookie up to the absolute expiry', async () => {
      const { manager } = setup({ remember: { idleTimeout: 86_400, absoluteTimeout: 30 * 86_400 } });
      const { headers } = await signedIn(manager, { remember: true });
      assert.match(header(headers, 'Set-Cookie') ?? '', /; Max-Age=2592000;/);
      const plain = await signedIn(manager);
      assert.doesNotMatch(header(plain.headers, 'Set-Cookie') ?? '', /Max-Age/);
    });

    it('signIn — uses __Host-sid with Secure on a secure request', async () => {
      const { manager } = setup();
      const session = await manager.load({ secure: true });
      await session.signIn(alice);
      assert.match(header(await manager.commit(session), 'Set-Cookie') ?? '', /^__Host-sid=.*; Secure; SameSite=Lax$/);
    });
  });

  describe('when reading a signed-in session', () => {
    it('load — one store call and no write inside the touch interval (cache off)', async () => {
      const { manager, store, clock } = setup({ touchInterval: 60, cache: false });
      const { cookie } = await signedIn(manager);
      const writesBefore = store.writes();
      const findsBefore = store.count('find');
      for (let i = 0; i < 50; i++) {
        clock.advance(1000);
        const session = await manager.load({ secure: false, cookieHeader: cookie });
        assert.equal(session.principal?.id, 'alice');
        assert.deepEqual(await manager.commit(session), []);
      }
      assert.equal(store.count('find') - findsBefore, 50);
      assert.equal(store.writes() - writesBefore, 0);
    });

    it('needsCommit — false for a read that wrote nothing, so bindings skip the commit', async () => {
      const { manager } = setup();
      const { cookie } = await signedIn(manager);
      const session = await manager.load({ secure: false, cookieHeader: cookie });
      assert.equal(session.principal?.id, 'alice');
      assert.equal(session.get('missing'), undefined);
      assert.equal(session.needsCommit(), false);
      assert.deepEqual(await manager.commit(session), []);
    });

    it('needsCommit — true after a write, a sign-out, or handing out an object value (it may be changed in place)', async () => {
      const { manager } = setup();
      const { cookie } = await signedIn(manager);
      const written = await manager.load({ secure: false, cookieHeader: cookie });
      written.set('cart', { items: [] });
      assert.equal(written.needsCommit(), true);
      await manager.commit(written);
      const read = await manager.load({ secure: false, cookieHeader: cookie });
      read.get('cart');
      assert.equal(read.needsCommit(), true);
      const ended = await manager.load({ secure: false, cookieHeader: cookie });
      await ended.signOut();
      assert.equal(ended.needsCommit(), true);
      assert.equal((await manager.load({ secure: false })).needsCommit(), false);
    });

    it('load — reads the client address and user agent only when a session records them', async () => {
      // Regression: Express computes req.ip (X-Forwarded-For under trust proxy) on every read otherwise.
      const { manager } = setup();
      const { cookie } = await signedIn(manager);
      const reads: string[] = [];
      const request = {
        secure: false,
        cookieHeader: cookie,
        get userAgent() {
          reads.push('userAgent');
          return 'UA';
        },
        get ip() {
          reads.push('ip');
          return '10.0.0.1';
        },
      };
      const session = await manager.load(request);
      assert.equal(session.principal?.id, 'alice');
      await manager.commit(session);
      assert.deepEqual(reads, []);
      await session.signIn({ ...alice, authVersion: 2 });
      assert.deepEqual(session.client, { userAgent: 'UA', ip: '10.0.0.1' });
      assert.equal(session.snapshot?.ip, '10.0.0.1');
      assert.deepEqual(reads, ['userAgent', 'ip']);
    });

    it('load — activity keeps the session past its first idle expiry (touch)', async () => {
      const { manager, clock } = setup({ touchInterval: 60 });
      const { cookie } = await signedIn(manager);
      for (let i = 0; i < 4; i++) {
        clock.advance(20 * MINUTE);
        assert.equal((await manager.load({ secure: false, cookieHeader: cookie })).principal?.id, 'alice');
      }
    });

    it('load — past the idle timeout the session is gone and an expired event fires', async () => {
      const { manager, clock, events, store } = setup();
      const { cookie } = await signedIn(manager);
      clock.advance(30 * MINUTE + 1);
      const session = await manager.load({ secure: false, cookieHeader: cookie });
      assert.equal(session.principal, null);
      assert.ok(events.some((e) => e.type === 'expired' && e.userId === 'alice'));
      assert.equal(await store.find(session.handle ?? 'none', clock.now(), Infinity), null);
    });

    it('load — past the absolute timeout the session is gone despite activity', async () => {
      const { manager, clock } = setup({ touchInterval: 60 });
      const { cookie } = await signedIn(manager);
      for (let elapsed = 0; elapsed < 7200_000 - 10 * MINUTE; elapsed += 10 * MINUTE) {
        clock.advance(10 * MINUTE);
        assert.equal((await manager.load({ secure: false, cookieHeader: cookie })).principal?.id, 'alice');
      }
      clock.advance(10 * MINUTE);
      assert.equal((await manager.load({ secure: false, cookieHeader: cookie })).principal, null);
    });

    it('load — a cookie signed with an older secret is re-issued under the first one', async () => {
      const clock = manualClock();
      const store = new MemoryStore({ sweepInterval: 0 });
      const before = new SessionManager({ secrets: ['o'.repeat(32)], store, clock });
      const { cookie } = await signedIn(before);
      const after = new SessionManager({ secrets: ['n'.repeat(32), 'o'.repeat(32)], store, clock });
      const session = await after.load({ secure: false, cookieHeader: cookie });
      assert.equal(session.principal?.id, 'alice');
      const reissued = cookieFrom(await after.commit(session));
      assert.notEqual(reissued, cookie);
      assert.equal(reissued.split('.')[0], cookie.split('.')[0]);
      assert.equal((await after.load({ secure: false, cookieHeader: reissued })).principal?.id, 'alice');
    });
  });

  describe('when changing data', () => {
    it('commit — writes only the changed keys', async () => {
      const { manager, store } = setup();
      const { cookie } = await signedIn(manager);
      const first = await manager.load({ secure: false, cookieHeader: cookie });
      first.set('a', 1);
      await manager.commit(first);
      const updates = store.count('update');
      const readOnly = await manager.load({ secure: false, cookieHeader: cookie });
      assert.equal(readOnly.get('a'), 1);
      await manager.commit(readOnly);
      assert.equal(store.count('update'), updates);
    });

    it('commit — persists in-place changes to an object read with get', async () => {
      const { manager } = setup();
      const { cookie } = await signedIn(manager);
      const session = await manager.load({ secure: false, cookieHeader: cookie });
      session.set('cart', { items: [] });
      await manager.commit(session);
      const next = await manager.load({ secure: false, cookieHeader: cookie });
      next.get<{ items: number[] }>('cart')?.items.push(7);
      await manager.commit(next);
      assert.deepEqual((await manager.load({ secure: false, cookieHeader: cookie })).get('cart'), { items: [7] });
    });

    it('commit — two concurrent requests changing different keys both persist', async () => {
      const { manager } = setup();
      const { cookie } = await signedIn(manager);
      const [one, two] = await Promise.all([
        manager.load({ secure: false, cookieHeader: cookie }),
        manager.load({ secure: false, cookieHeader: cookie }),
      ]);
      one.set('a', 1);
      two.set('b', 2);
      await Promise.all([manager.commit(one), manager.commit(two)]);
      const after = await manager.load({ secure: false, cookieHeader: cookie });
      assert.deepEqual([after.get('a'), after.get('b')], [1, 2]);
    });

    it('commit — a write that finishes after sign-out does not bring the session back', async () => {
      const { manager, store } = setup();
      const { cookie } = await signedIn(manager);
      const slow = await manager.load({ secure: false, cookieHeader: cookie });
      const logout = await manager.load({ secure: false, cookieHeader: cookie });
      await logout.signOut();
      await manager.commit(logout);
      slow.set('late', true);
      assert.deepEqual(await manager.commit(slow), []);
      assert.equal(store.size, 0);
      assert.equal((await manager.load({ secure: false, cookieHeader: cookie })).principal, null);
    });

    it('set — refuses values that are not JSON', async () => {
      const { manager } = setup();
      const session = await manager.load({ secure: false });
      assert.throws(() => session.set('f', (() => 1) as never), { code: 'KEYCARD_INVALID_VALUE' });
      const cycle: Record<string, unknown> = {};
      cycle['self'] = cycle;
      assert.throws(() => session.set('c', cycle as never), { code: 'KEYCARD_INVALID_VALUE' });
    });
  });

  describe('when rotating and ending', () => {
    it('rotate — keeps the data under a new id and kills the old one', async () => {
      const { manager } = setup();
      const { cookie } = await signedIn(manager);
      const session = await manager.load({ secure: false, cookieHeader: cookie });
      session.set('x', 1);
      await session.rotate();
      const next = cookieFrom(await manager.commit(session));
      assert.notEqual(next, cookie);
      assert.equal((await manager.load({ secure: false, cookieHeader: cookie })).principal, null);
      const reloaded = await manager.load({ secure: false, cookieHeader: next });
      assert.equal(reloaded.get('x'), 1);
      assert.equal(reloaded.handle, session.handle);
    });

    it('rotate — drops the data when asked', async () => {
      const { manager } = setup();
      const { cookie } = await signedIn(manager);
      const session = await manager.load({ secure: false, cookieHeader: cookie });
      session.set('x', 1);
      await manager.commit(session);
      const again = await manager.load({ secure: false, cookieHeader: cookie });
      await again.rotate({ keepData: false });
      const next = cookieFrom(await manager.commit(again));
      const reloaded = await manager.load({ secure: false, cookieHeader: next });
      assert.equal(reloaded.get('x'), undefined);
      assert.equal(reloaded.principal?.id, 'alice');
    });

    it('signOut — destroys the record, clears the cookie with Clear-Site-Data', async () => {
      const { manager, store, events } = setup();
      const { cookie } = await signedIn(manager);
      const session = await manager.load({ secure: false, cookieHeader: cookie });
      await session.signOut();
      const headers = await manager.commit(session);
      assert.match(header(headers, 'Set-Cookie') ?? '', /^sid=; Path=\/; Max-Age=0; Expires=Thu, 01 Jan 1970/);
      assert.equal(header(headers, 'Clear-Site-Data'), '"cookies"');
      assert.equal(header(headers, 'Cache-Control'), 'no-store');
      assert.equal(store.size, 0);
      assert.ok(events.some((e) => e.type === 'destroyed'));
    });
  });

  describe('when managing a user’s sessions', () => {
    it('listSessions/revokeSession — by public handle, only the owner’s', async () => {
      const { manager } = setup();
      const first = await signedIn(manager);
      await signedIn(manager);
      const listed = await manager.listSessions('alice');
      assert.equal(listed.length, 2);
      assert.equal(await manager.revokeSession('bob', first.session.handle ?? ''), false);
      assert.equal(await manager.revokeSession('alice', first.session.handle ?? ''), true);
      assert.equal((await manager.load({ secure: false, cookieHeader: first.cookie })).principal, null);
      assert.equal((await manager.listSessions('alice')).length, 1);
    });

    it('revokeAll — ends every session but the caller’s', async () => {
      const { manager } = setup();
      const mine = await signedIn(manager);
      const other = await signedIn(manager);
      const current = await manager.load({ secure: false, cookieHeader: mine.cookie });
      assert.deepEqual(await manager.revokeAll('alice', current), [other.session.handle]);
      assert.equal((await manager.load({ secure: false, cookieHeader: other.cookie })).principal, null);
      assert.equal((await manager.load({ secure: false, cookieHeader: mine.cookie })).principal?.id, 'alice');
    });

    it('refreshPrincipal — the next request sees the new roles under a new id', async () => {
      const { manager } = setup();
      const { cookie } = await signedIn(manager);
      await manager.refreshPrincipal({ ...alice, roles: ['user', 'admin'] });
      const session = await manager.load({ secure: false, cookieHeader: cookie });
      assert.deepEqual(session.principal?.roles, ['user', 'admin']);
      const rotated = cookieFrom(await manager.commit(session));
      assert.notEqual(rotated, cookie);
      assert.equal((await manager.load({ secure: false, cookieHeader: cookie })).principal, null);
      const next = await manager.load({ secure: false, cookieHeader: rotated });
      assert.deepEqual(next.principal?.roles, ['user', 'admin']);
      assert.deepEqual(await manager.commit(next), []);
    });

    it('refreshPrincipal — a bearer token keeps working with the new roles', async () => {
      const { manager } = setup();
      const { token } = await manager.issueToken(alice);
      await manager.refreshPrincipal({ ...alice, roles: ['admin'] });
      const first = await manager.load({ secure: false, authorization: `Bearer ${token}` });
      assert.deepEqual(first.principal?.roles, ['admin']);
      assert.deepEqual(await manager.commit(first), []);
      assert.equal((await manager.load({ secure: false, authorization: `Bearer ${token}` })).snapshot?.rotationDue, false);
    });

    it('issueToken — a bearer session is listed and revocable like any other', async () => {
      const { manager } = setup();
      const { token } = await manager.issueToken(alice, { userAgent: 'cli' });
      const session = await manager.load({ secure: false, authorization: `Bearer ${token}` });
      assert.equal(session.transport, 'bearer');
      assert.equal(session.principal?.id, 'alice');
      assert.equal((await manager.listSessions('alice'))[0]?.userAgent, 'cli');
      await manager.revokeAll('alice');
      assert.equal((await manager.load({ secure: false, authorization: `Bearer ${token}` })).principal, null);
    });

    it('issueToken — bearer can be turned off', async () => {
      const { manager } = setup({ bearer: false });
      const { token } = await manager.issueToken(alice);
      assert.equal((await manager.load({ secure: false, authorization: `Bearer ${token}` })).principal, null);
    });

    it('signIn — past the limit the oldest session is signed out', async () => {
      const { manager, clock, events } = setup({ maxSessionsPerUser: 2 });
      const oldest = await signedIn(manager);
      clock.advance(1000);
      const middle = await signedIn(manager);
      clock.advance(1000);
      await signedIn(manager);
      assert.equal((await manager.load({ secure: false, cookieHeader: oldest.cookie })).principal, null);
      assert.equal((await manager.load({ secure: false, cookieHeader: middle.cookie })).principal?.id, 'alice');
      assert.ok(events.some((e) => e.type === 'revoked' && e.reason === 'session-limit'));
    });

    it('signIn — in refuse mode past the limit throws SessionLimitError', async () => {
      const { manager } = setup({ maxSessionsPerUser: 1, sessionLimitMode: 'refuse' });
      await signedIn(manager);
      const session = await manager.load({ secure: false });
      await assert.rejects(session.signIn(alice), SessionLimitError);
    });
  });

  describe('when the store is unreachable', () => {
    it('load — answers within the deadline with a session whose reads throw', async () => {
      const { manager: healthy } = setup();
      const { cookie } = await signedIn(healthy);
      const hanging = new Proxy(new MemoryStore({ sweepInterval: 0 }), {
        get: (target, property, receiver) =>
          property === 'find' ? () => new Promise(() => {}) : Reflect.get(target, property, receiver),
      }) as SessionStore;
      const manager = new SessionManager({ secrets: SECRET, store: hanging, storeTimeout: 50 });
      const started = performance.now();
      const session = await manager.load({ secure: false, cookieHeader: cookie });
      const elapsed = performance.now() - started;
      assert.ok(elapsed < 500, `took ${elapsed} ms`);
      assert.equal(session.available, false);
      assert.throws(() => session.principal, StoreUnavailableError);
    });

    // Finding 15 of issue 13: store outages were not reported anywhere but in the 503s.
    it('reports a failed or timed-out store call as a storeUnavailable event naming the operation', async () => {
      const { manager: healthy } = setup();
      const { cookie } = await signedIn(healthy);
      const broken = new Proxy(new MemoryStore({ sweepInterval: 0 }), {
        get: (target, property, receiver) =>
          property === 'find' ? () => Promise.reject(new Error('ECONNREFUSED')) : property === 'ping' ? () => new Promise(() => {}) : Reflect.get(target, property, receiver),
      }) as SessionStore;
      const manager = new SessionManager({ secrets: SECRET, store: broken, storeTimeout: 30 });
      const seen: SessionEvent[] = [];
      manager.events.on('storeUnavailable', (event) => seen.push(event));
      await manager.load({ secure: false, cookieHeader: cookie });
      assert.deepEqual(await manager.health(), { store: 'down' });
      assert.deepEqual(seen.map((event) => event.reason), ['find', 'ping']);
      assert.ok(seen.every((event) => event.handle === null && event.userId === null));
    });
  });

  // Finding 7 of issue 13: behind a proxy trusted too widely, any X-Forwarded-For text became the session's IP.
  describe('when the client address is not an IP', () => {
    it('signIn and issueToken store no address rather than the text given', async () => {
      const { manager } = setup();
      for (const ip of ['<script>alert(1)</script>', 'unknown', '203.0.113.7, 10.0.0.1', 'x'.repeat(10_000)]) {
        const session = await manager.load({ secure: false, ip, userAgent: 'ua' });
        await session.signIn(alice);
        await manager.commit(session);
        await manager.issueToken(alice, { ip, userAgent: 'cli' });
      }
      const listed = await manager.listSessions('alice');
      assert.ok(listed.length >= 8);
      assert.deepEqual([...new Set(listed.map((info) => info.ip))], [null]);
      const valid = await manager.load({ secure: false, ip: ' 2001:DB8::1 ' });
      await valid.signIn({ ...alice, id: 'bob' });
      await manager.commit(valid);
      assert.equal((await manager.listSessions('bob'))[0]?.ip, '2001:db8::1');
    });
  });
});
