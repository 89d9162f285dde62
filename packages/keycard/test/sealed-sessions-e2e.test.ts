import 'reflect-metadata';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Body, Controller, Get, HttpCode, Post } from '@nestjs/common';
import { Redis } from 'ioredis';
import { MemoryRevocationStore, type JsonValue, type Principal, type RevocationStore, type Session as KeycardSession } from '../src/index.js';
import { CurrentUser, Public, Session, SessionModule, SessionService, type SessionModuleOptions } from '../src/nest/index.js';
import { RedisRevocationStore } from '../src/redis/index.js';
import { manualClock, type ManualClock } from './support/clock.js';
import { PLATFORMS, expectCookie, expectKeycardError, expectStatus, startApp, type Client, type RunningApp } from './support/http.js';
import { SECRET } from './support/session-app.js';
import { REDIS_URL, redisSkip } from './support/services.js';
import { io } from 'socket.io-client';
import { ChatGateway, useKeycardIo } from './support/io-app.js';
import { ConnectionLog, WhoamiGateway, useKeycardWs } from './support/ws-app.js';
import { connect } from './support/ws-client.js';
import { WS_CLOSE_SESSION_ENDED } from '../src/nest/ws/index.js';
import { IO_CLOSE_EVENT, type IoCloseNotice } from '../src/nest/socket.io/index.js';
import type { INestApplication } from '@nestjs/common';

type SocketAdapter = 'ws' | 'socket.io';

/** The app with a /ws gateway (KeycardWsAdapter) or a socket.io one (KeycardIoAdapter). */
function socketApp(clock: ManualClock, revocation: RevocationStore, adapter: SocketAdapter) {
  const base = app(clock, revocation);
  const providers = adapter === 'ws' ? [ConnectionLog, WhoamiGateway] : [ChatGateway];
  return { ...base, providers };
}

function configureFor(adapter: SocketAdapter): (app: INestApplication) => void {
  return adapter === 'ws' ? useKeycardWs() : useKeycardIo();
}

/** Opens a signed-in socket with `cookie`; resolves with a promise of its close by keycard (code and ms after `since()`). */
async function openSocket(url: string, cookie: string, adapter: SocketAdapter): Promise<{ closed: (since: number, deadlineMs?: number) => Promise<{ code: number; afterMs: number }> }> {
  if (adapter === 'ws') {
    const socket = await connect(url, '/ws', { cookie });
    assert.equal(((await socket.ask({ type: 'whoami' })) as { user: { id: string } }).user.id.length > 0, true);
    return {
      closed: async (since, deadlineMs = 3000) => {
        const closed = await socket.waitForClose(deadlineMs, since);
        return { code: closed.code, afterMs: closed.afterMs };
      },
    };
  }
  const socket = io(url, { transports: ['websocket'], upgrade: false, reconnection: false, extraHeaders: { cookie } });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('connect_error', reject);
  });
  let notice: IoCloseNotice | undefined;
  socket.once(IO_CLOSE_EVENT, (received: IoCloseNotice) => (notice = received));
  const gone = new Promise<number>((resolve) => socket.once('disconnect', () => resolve(performance.now())));
  return {
    closed: async (since, deadlineMs = 3000) => {
      const at = await Promise.race([gone, new Promise<number>((_, reject) => setTimeout(() => reject(new Error('still connected')), deadlineMs))]);
      return { code: notice?.code ?? 0, afterMs: at - since };
    },
  };
}

const IDLE = 600;
const ABSOLUTE = 3600;
const TOUCH = 60;
const OLD = 'old-secret-0123456789-abcdefghijklmn';

@Controller()
class SealedController {
  constructor(private readonly sessions: SessionService) {}

  @Public()
  @Post('login')
  @HttpCode(204)
  async login(@Session() session: KeycardSession, @Body() body: { id: string }): Promise<void> {
    await session.signIn({ id: body.id, roles: ['user'], authVersion: 1 });
  }

  @Get('me')
  me(@CurrentUser() user: Principal): { user: string } {
    return { user: user.id };
  }

  @Public()
  @Post('data')
  @HttpCode(204)
  write(@Session() session: KeycardSession, @Body() body: { key: string; value: JsonValue }): void {
    session.set(body.key, body.value);
  }

  @Public()
  @Get('data')
  read(@Session() session: KeycardSession): { cart: JsonValue | null; user: string | null } {
    return { cart: session.get('cart') ?? null, user: session.principal?.id ?? null };
  }

  @Post('logout')
  @HttpCode(204)
  logout(@Session() session: KeycardSession): Promise<void> {
    return session.signOut();
  }

  @Post('logout-others')
  @HttpCode(204)
  async logoutOthers(@Session() session: KeycardSession, @CurrentUser() user: Principal): Promise<void> {
    await this.sessions.revokeAll(user.id, { except: session });
  }
}

function app(clock: ManualClock, revocation: RevocationStore | undefined, secrets: readonly string[] = [SECRET], extra: Partial<SessionModuleOptions> = {}) {
  return {
    imports: [
      SessionModule.forRoot({
        secrets,
        csrf: false,
        clock,
        idleTimeout: IDLE,
        absoluteTimeout: ABSOLUTE,
        touchInterval: TOUCH,
        sealed: revocation ? { revocation } : {},
        ...extra,
      }),
    ],
    controllers: [SealedController],
  };
}

async function signIn(client: Client, id: string): Promise<void> {
  expectStatus(await client.post('/login', { id }), 204);
}

const skip = await redisSkip();
const prefix = `kc-sealed-test:${randomBytes(6).toString('hex')}:`;
const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
if (!skip) await redis.connect();
after(async () => {
  if (skip) return;
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  await redis.quit();
});

const revocations: { readonly name: string; readonly make: (clock: ManualClock) => RevocationStore; readonly skip: string | false }[] = [
  { name: 'memory', make: (clock) => new MemoryRevocationStore(clock), skip: false },
  { name: 'Redis', make: () => new RedisRevocationStore(redis, { prefix }), skip },
];

for (const platform of PLATFORMS) {
  describe(`sealed-cookie sessions on ${platform}`, () => {
    let running: RunningApp;
    const clock = manualClock();
    before(async () => {
      running = await startApp(platform, app(clock, undefined));
    });
    after(() => running.close());

    it('sign-in: the whole session is the cookie; a new cookie at sign-in (rotation), no store anywhere', async () => {
      const browser = running.client();
      expectStatus(await browser.post('/data', { key: 'cart', value: ['book'] }), 204);
      const anonymous = browser.cookie('sid');
      assert.ok(anonymous && anonymous.length > 100, 'a sealed record, not a token');
      await signIn(browser, 'ann');
      assert.notEqual(browser.cookie('sid'), anonymous);
      assert.deepEqual((await browser.get('/me')).body, { user: 'ann' });
      assert.deepEqual((await browser.get('/data')).body, { cart: ['book'], user: 'ann' }, 'data kept through sign-in');
      assert.doesNotMatch(decodeURIComponent(browser.cookie('sid') ?? ''), /book|ann/, 'sealed: nothing readable');
    });

    it('a write re-issues the cookie; a read that changes nothing sends none', async () => {
      const browser = running.client();
      await signIn(browser, 'bob');
      const before = browser.cookie('sid');
      const read = await browser.get('/me');
      assert.deepEqual(read.setCookies, []);
      expectCookie(await browser.post('/data', { key: 'cart', value: [1, 2] }), 'sid', { httpOnly: true, sameSite: 'Lax' });
      assert.notEqual(browser.cookie('sid'), before);
      assert.deepEqual((await browser.get('/data')).body, { cart: [1, 2], user: 'bob' });
    });

    it('idle timeout from the sealed timestamps; a touch (new cookie) keeps a used session alive', async () => {
      const browser = running.client();
      await signIn(browser, 'cid');
      clock.advance((IDLE - 10) * 1000);
      const touched = await browser.get('/me');
      expectStatus(touched, 200);
      expectCookie(touched, 'sid');
      clock.advance((IDLE - 10) * 1000);
      expectStatus(await browser.get('/me'), 200);
      const idle = browser.fork();
      clock.advance(IDLE * 1000);
      expectStatus(await idle.get('/me'), 401);
    });

    it('absolute timeout, whatever the activity', async () => {
      const browser = running.client();
      await signIn(browser, 'dan');
      for (let spent = 0; spent < ABSOLUTE - IDLE / 2; spent += IDLE / 2) {
        clock.advance((IDLE / 2) * 1000);
        expectStatus(await browser.get('/me'), 200);
      }
      clock.advance((IDLE / 2 + 1) * 1000);
      expectStatus(await browser.get('/me'), 401);
    });

    it('a session past 4 KB is refused with a clear error, and the cookie stays as it was', async () => {
      const browser = running.client();
      await signIn(browser, 'eve');
      const before = browser.cookie('sid');
      const result = await browser.post('/data', { key: 'cart', value: 'x'.repeat(5000) });
      expectKeycardError(result, 500, 'KEYCARD_COOKIE_TOO_LARGE');
      assert.match((result.body as { message: string }).message, /.+/);
      assert.equal(browser.cookie('sid'), before);
      assert.deepEqual((await browser.get('/data')).body, { cart: null, user: 'eve' });
    });

    it('a tampered cookie is no session', async () => {
      const browser = running.client();
      await signIn(browser, 'fay');
      const value = browser.cookie('sid') ?? '';
      browser.setCookie('sid', `${value.slice(0, 30)}${value[30] === 'A' ? 'B' : 'A'}${value.slice(31)}`);
      expectStatus(await browser.get('/me'), 401);
    });

    it('without a revocation store: sign-out clears this browser only, a copied cookie still works (documented), revoke-all is refused', async () => {
      const browser = running.client();
      await signIn(browser, 'gus');
      const copy = browser.fork();
      expectCookie(await browser.post('/logout'), 'sid', { cleared: true });
      expectStatus(await browser.get('/me'), 401);
      expectStatus(await copy.get('/me'), 200);
      expectKeycardError(await copy.post('/logout-others'), 501, 'KEYCARD_UNSUPPORTED');
    });

    it('rotated secrets: a cookie sealed under the old secret is read and re-sealed under the new one', async () => {
      const rotationClock = manualClock();
      const old = await startApp(platform, app(rotationClock, undefined, [OLD]));
      const browser = running.client();
      try {
        await signIn(browser.at(old.url), 'hal');
      } finally {
        await old.close();
      }
      const sealedOld = browser.cookie('sid');
      const rotated = await startApp(platform, app(rotationClock, undefined, [SECRET, OLD]));
      try {
        const result = await browser.at(rotated.url).get('/me');
        assert.deepEqual(result.body, { user: 'hal' });
        expectCookie(result, 'sid');
        assert.notEqual(browser.cookie('sid'), sealedOld);
      } finally {
        await rotated.close();
      }
      const onlyNew = await startApp(platform, app(rotationClock, undefined, [SECRET]));
      try {
        assert.deepEqual((await browser.at(onlyNew.url).get('/me')).body, { user: 'hal' });
      } finally {
        await onlyNew.close();
      }
    });

    it('refuses a store, bearer tokens or a session limit next to sealed, at startup', async () => {
      await assert.rejects(startApp(platform, app(clock, undefined, [SECRET], { bearer: true })), /bearer tokens need a session store/);
      await assert.rejects(startApp(platform, app(clock, undefined, [SECRET], { maxSessionsPerUser: 3 })), /maxSessionsPerUser needs a session store/);
    });

    it('a revocation store that hangs: 503 within storeTimeout for signed-in reads, anonymous traffic unaffected, back by itself', async () => {
      const inner = new MemoryRevocationStore();
      let hang = false;
      const flaky: RevocationStore = {
        check: (user, id) => (hang ? new Promise(() => undefined) : inner.check(user, id)),
        bumpEpoch: (user, at, keep) => inner.bumpEpoch(user, at, keep),
        revoke: (id, until) => inner.revoke(id, until),
        close: () => inner.close(),
      };
      const down = await startApp(platform, app(manualClock(), flaky, [SECRET], { storeTimeout: 200 }));
      try {
        const browser = down.client();
        await signIn(browser, 'kim');
        hang = true;
        const started = performance.now();
        expectKeycardError(await browser.get('/me'), 503, 'KEYCARD_STORE_UNAVAILABLE');
        assert.ok(performance.now() - started < 2000, 'answered within the timeout, not hung');
        expectStatus(await down.client().get('/data'), 200);
        hang = false;
        expectStatus(await browser.get('/me'), 200);
      } finally {
        await down.close();
      }
    });

    for (const backend of revocations) {
      describe(`with a ${backend.name} revocation store`, { skip: backend.skip }, () => {
        let revoking: RunningApp;
        const revokingClock = manualClock();
        before(async () => {
          revoking = await startApp(platform, app(revokingClock, backend.make(revokingClock)));
        });
        after(() => revoking.close());

        it('sign-out ends every copy of that session; the user’s other sessions go on', async () => {
          const laptop = revoking.client();
          const phone = revoking.client();
          await signIn(laptop, `ida-${platform}-${backend.name}`);
          await signIn(phone, `ida-${platform}-${backend.name}`);
          const stolen = laptop.fork();
          expectStatus(await laptop.post('/logout'), 204);
          expectStatus(await stolen.get('/me'), 401);
          expectStatus(await phone.get('/me'), 200);
        });

        it('"sign out everywhere else" (and a password change) ends every other session and every old copy of this one; this browser goes on', async () => {
          const user = `joe-${platform}-${backend.name}`;
          const laptop = revoking.client();
          const phone = revoking.client();
          await signIn(laptop, user);
          await signIn(phone, user);
          const laptopCopy = laptop.fork();
          revokingClock.advance(1);
          const result = await laptop.post('/logout-others');
          expectStatus(result, 204);
          expectCookie(result, 'sid');
          expectStatus(await laptop.get('/me'), 200);
          expectStatus(await phone.get('/me'), 401);
          expectStatus(await laptopCopy.get('/me'), 401);
          const again = revoking.client();
          revokingClock.advance(1);
          await signIn(again, user);
          expectStatus(await again.get('/me'), 200);
        });

        for (const adapter of ['ws', 'socket.io'] as const) {
          describe(`review #4: ${adapter} sockets`, () => {
            let sockets: RunningApp;
            const socketClock = manualClock();
            before(async () => {
              sockets = await startApp(platform, socketApp(socketClock, backend.make(socketClock), adapter), { configure: configureFor(adapter) });
            });
            after(() => sockets.close());

            it('a socket opened with the sealed cookie is closed (4401) within a second of signing out', async () => {
              const browser = sockets.client();
              await signIn(browser, `kai-${platform}-${adapter}-${backend.name}`);
              const socket = await openSocket(sockets.url, browser.cookieHeader() as string, adapter);
              const started = performance.now();
              expectStatus(await browser.post('/logout'), 204);
              const closed = await socket.closed(started);
              assert.equal(closed.code, WS_CLOSE_SESSION_ENDED);
              assert.ok(closed.afterMs < 1000, `closed ${closed.afterMs.toFixed(0)} ms after the sign-out`);
            });

            it('"sign out everywhere else" closes the sockets of the other sessions within a second, not this one\'s', async () => {
              const user = `lia-${platform}-${adapter}-${backend.name}`;
              const laptop = sockets.client();
              const phone = sockets.client();
              await signIn(phone, user);
              socketClock.advance(1);
              await signIn(laptop, user);
              const onPhone = await openSocket(sockets.url, phone.cookieHeader() as string, adapter);
              socketClock.advance(1);
              const started = performance.now();
              expectStatus(await laptop.post('/logout-others'), 204);
              const closed = await onPhone.closed(started);
              assert.equal(closed.code, WS_CLOSE_SESSION_ENDED);
              assert.ok(closed.afterMs < 1000, `closed ${closed.afterMs.toFixed(0)} ms after the revocation`);
              const onLaptop = await openSocket(sockets.url, laptop.cookieHeader() as string, adapter);
              // Three re-checks later, the kept session's socket is still open.
              await assert.rejects(onLaptop.closed(performance.now(), 1600));
            });
          });
        }
      });
    }
  });
}
