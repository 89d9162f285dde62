import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  InvalidOptionsError,
  MemoryStore,
  SessionManager,
  StoreUnavailableError,
  type Clock,
  type SessionRecord,
} from '../src/index.js';
import {
  SocketRegistry,
  WS_CLOSE_GOING_AWAY,
  WS_CLOSE_SESSION_ENDED,
  WS_CLOSE_TRY_AGAIN_LATER,
  authenticateUpgrade,
  resolveOriginCheck,
  type AuthenticatedSession,
  type ClosableSocket,
  type SocketRegistryOptions,
} from '../src/ws/index.js';
import { manualClock, type ManualClock } from './support/clock.js';
import { SECRET } from './support/session-app.js';

const MINUTE = 60_000;

/** A socket as the registry sees it; records what was done to it and lets a test await it. */
class RecordingSocket implements ClosableSocket {
  readonly closes: { code: number; reason: string }[] = [];
  terminated = false;
  private wake: (() => void) | null = null;

  close(code: number, reason: string): void {
    this.closes.push({ code, reason });
    this.wake?.();
  }

  terminate(): void {
    this.terminated = true;
    this.wake?.();
  }

  get closed(): boolean {
    return this.closes.length > 0;
  }

  /** Resolves once `done()` holds; rejects after `deadlineMs`. Waits for the registry's call, never sleeps. */
  until(done: () => boolean, deadlineMs = 3000): Promise<number> {
    const started = performance.now();
    if (done()) return Promise.resolve(0);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`not done within ${deadlineMs} ms: ${JSON.stringify(this.closes)}`)), deadlineMs);
      this.wake = () => {
        if (!done()) return;
        clearTimeout(timer);
        resolve(performance.now() - started);
      };
    });
  }
}

/** A MemoryStore whose revocation messages never arrive: a subscriber that was reconnecting when they were sent. */
class DeafStore extends MemoryStore {
  override async onRevoked(): Promise<() => Promise<void>> {
    return async () => undefined;
  }
}

/** A MemoryStore that counts subscriptions, refuses the first `refusals` of them, and can fail `listByUser`. */
class ObservedStore extends MemoryStore {
  subscriptions = 0;
  listDown = false;
  constructor(
    clock: Clock,
    private refusals = 0,
  ) {
    super({ sweepInterval: 0, clock });
  }

  override onRevoked(listener: (handles: readonly string[]) => void): Promise<() => Promise<void>> {
    this.subscriptions++;
    if (this.refusals > 0) {
      this.refusals--;
      return Promise.reject(new StoreUnavailableError('redis store: subscribe refused'));
    }
    return super.onRevoked(listener);
  }

  override listByUser(userId: string, now: number): Promise<SessionRecord[]> {
    if (this.listDown) return Promise.reject(new StoreUnavailableError('listByUser refused'));
    return super.listByUser(userId, now);
  }
}

interface Fixture {
  readonly clock: ManualClock;
  readonly manager: SessionManager;
  readonly registry: SocketRegistry<RecordingSocket>;
}

function fixture(store: MemoryStore | ((clock: Clock) => MemoryStore), options: SocketRegistryOptions = {}, clock = manualClock()): Fixture {
  const manager = new SessionManager({
    secrets: SECRET,
    store: typeof store === 'function' ? store(clock) : store,
    clock,
    idleTimeout: 30 * 60,
    touchInterval: 60,
  });
  return { clock, manager, registry: new SocketRegistry<RecordingSocket>(manager, options) };
}

/** Signs `userId` in and passes the cookie through the handshake check, as the adapter does. */
async function signedIn(manager: SessionManager, userId: string): Promise<{ session: AuthenticatedSession; cookie: string }> {
  const anonymous = await manager.load({ secure: false });
  await anonymous.signIn({ id: userId, roles: ['user'], authVersion: 1 });
  const setCookie = (await manager.commit(anonymous)).find(([name]) => name === 'Set-Cookie')?.[1] as string;
  const cookie = setCookie.split(';')[0] as string;
  const decision = await authenticateUpgrade(manager, { cookieHeader: cookie, secure: false }, resolveOriginCheck());
  assert.ok(decision.ok, 'the handshake passes');
  return { session: decision.session, cookie };
}

describe('resolveOriginCheck', () => {
  const check = resolveOriginCheck(['https://app.example.com', 'http://localhost:5173']);
  const table: [origin: string | undefined, host: string, allowed: boolean][] = [
    [undefined, 'api.example.com', true],
    ['https://api.example.com', 'api.example.com', true],
    ['http://API.example.com:8080', 'api.example.com:8080', true],
    ['https://app.example.com', 'api.example.com', true],
    ['http://localhost:5173', 'api.example.com', true],
    ['https://evil.example', 'api.example.com', false],
    ['https://api.example.com.evil.example', 'api.example.com', false],
    ['https://api.example.com:444', 'api.example.com', false],
    ['null', 'api.example.com', false],
    ['file://', 'api.example.com', false],
    ['not a url', 'api.example.com', false],
    ['https://api.example.com/path', 'api.example.com', false],
  ];
  for (const [origin, host, allowed] of table) {
    it(`${allowed ? 'allows' : 'refuses'} Origin ${JSON.stringify(origin)} on Host ${host}`, () => {
      assert.equal(check(origin, host), allowed);
    });
  }

  it('refuses every Origin when the request has no Host (nothing to be same-origin with)', () => {
    assert.equal(check('https://api.example.com', undefined), false);
  });

  it('rejects allow-list entries that are not origins, at startup, naming the entry', () => {
    for (const entry of ['https://app.example.com/', 'app.example.com', 'https://app.example.com/login', 'https://App.Example.com:443', '*']) {
      assert.throws(() => resolveOriginCheck([entry]), (error: unknown) => {
        assert.ok(error instanceof InvalidOptionsError);
        assert.equal(
          error.message,
          `keycard: allowedOrigins entry ${JSON.stringify(entry)} is not an origin; write it as the browser sends it, e.g. "https://app.example.com" (scheme, host and port only)`,
        );
        return true;
      });
    }
    assert.throws(() => resolveOriginCheck('https://app.example.com' as never), InvalidOptionsError);
  });
});

describe('SocketRegistry', () => {
  it('options — rejects a revalidateInterval or closeGrace that is not a positive number, with the option named', () => {
    const { manager } = fixture(new MemoryStore({ sweepInterval: 0 }));
    assert.throws(
      () => new SocketRegistry(manager, { revalidateInterval: 0 }),
      { name: 'InvalidOptionsError', message: 'keycard: revalidateInterval must be a positive number of seconds (or Infinity), got 0' },
    );
    assert.throws(
      () => new SocketRegistry(manager, { closeGrace: Number.NaN }),
      { name: 'InvalidOptionsError', message: 'keycard: closeGrace must be a positive number of seconds (or Infinity), got NaN' },
    );
  });

  it('track — subscribes to revocations once, however many sockets and sessions', async () => {
    const store = new ObservedStore(manualClock());
    const { manager, registry } = fixture(store);
    for (const user of ['a', 'b', 'c']) {
      const { session } = await signedIn(manager, user);
      registry.track(session, new RecordingSocket());
      registry.track(session, new RecordingSocket());
    }
    await registry.start();
    assert.equal(store.subscriptions, 1);
    assert.equal(registry.size, 6);
    await registry.close();
  });

  it('revocation — closes every socket of the session with 4401 "session ended", and no other', async () => {
    const { manager, registry } = fixture(new MemoryStore({ sweepInterval: 0 }));
    const alice = await signedIn(manager, 'alice');
    const bob = await signedIn(manager, 'bob');
    const tabs = [new RecordingSocket(), new RecordingSocket()];
    const bobs = new RecordingSocket();
    const views = tabs.map((tab) => registry.track(alice.session, tab));
    registry.track(bob.session, bobs);
    await registry.start();
    assert.equal(await manager.revokeSession('alice', alice.session.handle), true);
    for (const tab of tabs) assert.deepEqual(tab.closes, [{ code: WS_CLOSE_SESSION_ENDED, reason: 'session ended' }]);
    assert.ok(views.every((view) => view.ended));
    assert.equal(bobs.closed, false);
    assert.equal(registry.size, 1);
    await registry.close();
  });

  it('track — a session revoked while its handshake was in flight is closed at once', async () => {
    const { manager, registry } = fixture(new MemoryStore({ sweepInterval: 0 }));
    await registry.start();
    const { session } = await signedIn(manager, 'alice');
    // The handshake loaded the session; the revocation arrives before the socket is tracked.
    await manager.revokeAll('alice');
    const socket = new RecordingSocket();
    const view = registry.track(session, socket);
    assert.deepEqual(socket.closes, [{ code: WS_CLOSE_SESSION_ENDED, reason: 'session ended' }]);
    assert.equal(view.ended, true);
    assert.equal(registry.size, 0);
    await registry.close();
  });

  it('recheck — closes with "session expired" once the idle timeout passed, not before', async () => {
    const { clock, manager, registry } = fixture(new MemoryStore({ sweepInterval: 0 }));
    const { session } = await signedIn(manager, 'alice');
    const socket = new RecordingSocket();
    registry.track(session, socket);
    clock.advance(30 * MINUTE - 1);
    await registry.recheck();
    assert.equal(socket.closed, false, 'one millisecond before the idle expiry the session is alive');
    clock.advance(1);
    await registry.recheck();
    assert.deepEqual(socket.closes, [{ code: WS_CLOSE_SESSION_ENDED, reason: 'session expired' }]);
    await registry.close();
  });

  it('recheck — a session kept alive over HTTP keeps its socket, and the socket sees the new expiry', async () => {
    const { clock, manager, registry } = fixture(new MemoryStore({ sweepInterval: 0 }));
    const { session, cookie } = await signedIn(manager, 'alice');
    const socket = new RecordingSocket();
    const view = registry.track(session, socket);
    const firstExpiry = view.expiresAt;
    clock.advance(20 * MINUTE);
    await manager.load({ cookieHeader: cookie, secure: false }); // an HTTP request touches the session
    clock.advance(20 * MINUTE); // past the first expiry
    await registry.recheck();
    assert.equal(socket.closed, false);
    assert.equal(view.expiresAt, firstExpiry + 20 * MINUTE);
    await registry.close();
  });

  it('recheck — a session that ended without a message (pub/sub lost it) closes with "session ended"', async () => {
    const { manager, registry } = fixture(new DeafStore({ sweepInterval: 0 }));
    const { session } = await signedIn(manager, 'alice');
    const socket = new RecordingSocket();
    registry.track(session, socket);
    await manager.revokeAll('alice');
    assert.equal(socket.closed, false, 'no message arrived');
    await registry.recheck();
    assert.deepEqual(socket.closes, [{ code: WS_CLOSE_SESSION_ENDED, reason: 'session ended' }]);
    await registry.close();
  });

  it('revalidateInterval — re-checks by itself, so a lost revocation still closes the socket', async () => {
    // The interval timer runs on real time; the session (30 minutes from the manual clock's now) is nowhere near expiry.
    const { manager, registry } = fixture(new DeafStore({ sweepInterval: 0 }), { revalidateInterval: 0.05 });
    const { session } = await signedIn(manager, 'alice');
    const socket = new RecordingSocket();
    registry.track(session, socket);
    await manager.revokeAll('alice');
    const tookMs = await socket.until(() => socket.closed);
    assert.deepEqual(socket.closes, [{ code: WS_CLOSE_SESSION_ENDED, reason: 'session ended' }]);
    assert.ok(tookMs < 1000, `closed after ${tookMs.toFixed(0)} ms with a 50 ms interval`);
    await registry.close();
  });

  it('recheck — with the store down, keeps the socket before its expiry and closes it with 1013 after', async () => {
    const store = new ObservedStore(manualClock());
    const errors: unknown[] = [];
    const { clock, manager, registry } = fixture(() => store, { onError: (error) => errors.push(error) });
    const { session } = await signedIn(manager, 'alice');
    const socket = new RecordingSocket();
    registry.track(session, socket);
    store.listDown = true;
    await registry.recheck();
    assert.equal(socket.closed, false, 'an outage alone does not close sockets');
    clock.advance(30 * MINUTE);
    await registry.recheck();
    assert.deepEqual(socket.closes, [{ code: WS_CLOSE_TRY_AGAIN_LATER, reason: 'session store unavailable' }]);
    assert.equal(errors.length, 2);
    assert.ok(errors.every((error) => error instanceof StoreUnavailableError));
    await registry.close();
  });

  it('start — a refused subscription is retried, and every session is re-checked once it is in place', async () => {
    const store = new DeafStore({ sweepInterval: 0 });
    let refusals = 1;
    let subscriptions = 0;
    // Refuses the first subscription; the revocation sent meanwhile is lost.
    store.onRevoked = async () => {
      subscriptions++;
      if (refusals-- > 0) throw new StoreUnavailableError('subscribe refused');
      return async () => undefined;
    };
    const errors: unknown[] = [];
    const { manager, registry } = fixture(store, { onError: (error) => errors.push(error) });
    const { session } = await signedIn(manager, 'alice');
    const socket = new RecordingSocket();
    registry.track(session, socket);
    await manager.revokeAll('alice');
    const tookMs = await socket.until(() => socket.closed);
    assert.equal(subscriptions, 2);
    assert.ok(errors[0] instanceof StoreUnavailableError);
    assert.deepEqual(socket.closes, [{ code: WS_CLOSE_SESSION_ENDED, reason: 'session ended' }]);
    assert.ok(tookMs < 2000, `closed ${tookMs.toFixed(0)} ms later (retry after 1 s)`);
    await registry.close();
  });

  it('closeGrace — a client that does not answer the close frame is dropped after the grace period', async () => {
    const { manager, registry } = fixture(new MemoryStore({ sweepInterval: 0 }), { closeGrace: 0.02 });
    const { session } = await signedIn(manager, 'alice');
    const socket = new RecordingSocket();
    registry.track(session, socket);
    await registry.start();
    await manager.revokeAll('alice');
    assert.equal(socket.terminated, false, 'the closing handshake comes first');
    await socket.until(() => socket.terminated);
    await registry.close();
  });

  it('untrack — the last socket of a session takes its entry with it; a closed registry turns sockets away', async () => {
    const { manager, registry } = fixture(new MemoryStore({ sweepInterval: 0 }));
    const { session } = await signedIn(manager, 'alice');
    const first = new RecordingSocket();
    const second = new RecordingSocket();
    registry.track(session, first);
    registry.track(session, second);
    registry.untrack(first);
    assert.equal(registry.size, 1);
    assert.equal(registry.sessionOf(second)?.handle, session.handle);
    registry.untrack(second);
    assert.equal(registry.size, 0);
    await registry.close();
    const late = new RecordingSocket();
    assert.equal(registry.track(session, late).ended, true);
    assert.deepEqual(late.closes, [{ code: WS_CLOSE_GOING_AWAY, reason: 'server shutting down' }]);
  });
});
