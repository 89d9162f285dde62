import assert from 'node:assert/strict';
import { after, afterEach, beforeEach, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { SessionManager } from '../src/index.js';
import { RedisStore } from '../src/redis/index.js';
import { healthApp } from './support/health-app.js';
import {
  PLATFORMS,
  expectKeycardError,
  expectNoSetCookie,
  expectStatus,
  request,
  startApp,
  type Client,
  type RunningApp,
} from './support/http.js';
import { timed, watchProcessFailures, within } from './support/poll.js';
import { RedisServer, redisServerSkip } from './support/redis-server.js';

// An application on a RedisStore whose redis-server this suite starts, kills by PID,
// freezes and restarts on the same port. The app runs in the test process, so the test
// sees any unhandled rejection or uncaught exception it would die of.
const skip = redisServerSkip();
const server = skip ? null : await RedisServer.start();
after(async () => {
  await server?.stop();
});

const STORE_TIMEOUT = 500;
/** HTTP and Nest on top of the store call, on a loaded 2-core machine; the measured figures are far below. */
const MARGIN = 500;
const RECOVERY_BOUND = 2000;

const ms = (value: number): string => `${value.toFixed(0)} ms`;

for (const platform of PLATFORMS) {
  describe(`HTTP on ${platform} when the Redis session store goes down`, { skip }, () => {
    let redis: Redis;
    let store: RedisStore;
    let app: RunningApp;
    let clientErrors: number;
    let failures: ReturnType<typeof watchProcessFailures>;

    beforeEach(async () => {
      const redisServer = server as RedisServer;
      redisServer.resume();
      if (!redisServer.running) await redisServer.restart();
      failures = watchProcessFailures();
      clientErrors = 0;
      // The client options RedisStoreOptions recommends for fast failure.
      redis = new Redis({
        host: redisServer.host,
        port: redisServer.port,
        lazyConnect: true,
        enableOfflineQueue: false,
        maxRetriesPerRequest: 0,
        connectTimeout: 1000,
        commandTimeout: STORE_TIMEOUT,
        retryStrategy: (attempt) => Math.min(attempt * 100, 500),
      });
      redis.on('error', () => void clientErrors++);
      await redis.connect();
      store = new RedisStore(redis, { prefix: `outage-http:${platform}:${Date.now()}:` });
      app = await startApp(platform, healthApp({ store, storeTimeout: STORE_TIMEOUT }));
    });

    afterEach(async () => {
      (server as RedisServer).resume();
      await app.close();
      await store.close();
      redis.disconnect();
      assert.deepEqual(await failures.stop(), [], 'no unhandled rejection or uncaught exception during the outage');
    });

    async function signIn(client: Client, id: string): Promise<string> {
      const login = await client.post('/login', { id });
      expectStatus(login, 201);
      const me = await client.get('/me');
      expectStatus(me, 200);
      assert.equal((me.body as { user: { id: string } }).user.id, id);
      return client.cookieHeader() as string;
    }

    it('a killed redis-server: 503 at once on protected routes, public routes keep answering, /health says down; a restart brings service back without restarting the app', async () => {
      const redisServer = server as RedisServer;
      const manager = app.app.get(SessionManager);
      const browser = app.client();
      const oldCookie = await signIn(browser, 'alice');
      expectStatus(await request(`${app.url}/health`), 200);
      assert.deepEqual(await manager.health(), { store: 'up' });

      const pid = redisServer.pid as number;
      const killStarted = performance.now();
      process.kill(pid, 'SIGKILL');
      // Waits for the child's exit (the kernel has closed its sockets by then); the signal is already sent.
      await redisServer.kill();
      const first = await timed(() => browser.get('/me'));
      const killToFirst503 = performance.now() - killStarted;
      expectKeycardError(first.value, 503, 'KEYCARD_STORE_UNAVAILABLE');
      expectNoSetCookie(first.value);

      // Every protected request fails fast, none waits past storeTimeout.
      const latencies = [first.ms];
      for (let i = 0; i < 10; i++) {
        const { value, ms: took } = await timed(() => browser.get('/me'));
        expectKeycardError(value, 503, 'KEYCARD_STORE_UNAVAILABLE');
        latencies.push(took);
      }
      // A public route that reads the session fails the same way; one that does not read it answers,
      // with the session cookie and without.
      expectKeycardError(await browser.get('/public/read'), 503, 'KEYCARD_STORE_UNAVAILABLE');
      const publicWithCookie = await timed(() => browser.get('/public/ping'));
      expectStatus(publicWithCookie.value, 200);
      const publicAnonymous = await timed(() => request(`${app.url}/public/ping`));
      expectStatus(publicAnonymous.value, 200);
      // A sign-in cannot store its session: 503, and no cookie for a session that does not exist.
      const newcomer = app.client();
      const refusedLogin = await newcomer.post('/login', { id: 'bob' });
      expectKeycardError(refusedLogin, 503, 'KEYCARD_STORE_UNAVAILABLE');
      expectNoSetCookie(refusedLogin);
      // The readiness probe reports the outage within the bound.
      const health = await timed(() => request(`${app.url}/health`));
      expectStatus(health.value, 503);
      assert.equal((health.value.body as { store?: string }).store, 'down');
      assert.deepEqual(await manager.health(), { store: 'down' });

      const worst = Math.max(...latencies, health.ms);
      console.log(
        `[${platform}] redis killed: first 503 ${ms(killToFirst503)} after SIGKILL (the request itself ${ms(first.ms)}); ` +
          `11 protected requests ${latencies.map((v) => v.toFixed(0)).join('/')} ms (worst ${ms(worst)}, storeTimeout ${STORE_TIMEOUT}); ` +
          `public ping ${ms(publicWithCookie.ms)} with cookie, ${ms(publicAnonymous.ms)} without; /health 503 in ${ms(health.ms)}`,
      );
      assert.ok(worst < STORE_TIMEOUT + MARGIN, `worst 503 took ${ms(worst)}`);
      // A refused connection fails at once with the recommended client options: no request waits out the deadline.
      assert.ok(worst < STORE_TIMEOUT, `worst 503 took ${ms(worst)}: a request waited for the deadline`);
      assert.ok(publicWithCookie.ms < STORE_TIMEOUT + MARGIN && publicAnonymous.ms < STORE_TIMEOUT + MARGIN);

      const restartStarted = performance.now();
      await redisServer.restart();
      const ready = performance.now();
      // Service returns by itself: same app, same ioredis client, same store.
      const backAfterReady = await within(
        RECOVERY_BOUND,
        async () => (await request(`${app.url}/public/read`, { headers: { cookie: oldCookie } })).status === 200,
        'a session-reading route answers 200 again after the restart',
      );
      const restartToFirst200 = performance.now() - restartStarted;
      console.log(
        `[${platform}] redis restarted: ready ${ms(ready - restartStarted)} after the restart began; ` +
          `first 200 ${ms(backAfterReady)} after ready (${ms(restartToFirst200)} after the restart began); ` +
          `ioredis 'error' events during the outage: ${clientErrors}`,
      );
      // Redis persisted nothing: the old session is gone, and the old cookie is simply not signed in.
      expectKeycardError(await browser.get('/me'), 401, 'KEYCARD_UNAUTHENTICATED');
      const again = app.client();
      await signIn(again, 'alice');
      expectStatus(await again.get('/data'), 200);
      const healthBack = await request(`${app.url}/health`);
      expectStatus(healthBack, 200);
      assert.deepEqual(healthBack.body, { store: 'up' });
      assert.deepEqual(await manager.health(), { store: 'up' });
    });

    it('a hung redis-server (SIGSTOP): 503 at the storeTimeout deadline, not later; the same session works again after SIGCONT', async () => {
      const redisServer = server as RedisServer;
      const browser = app.client();
      await signIn(browser, 'carol');

      redisServer.pause();
      // The session cache answers from memory until its feed is late (500 ms without a heartbeat:
      // nothing can be acknowledged meanwhile, so nothing it serves was revoked); past that, every
      // read goes to Redis, which is what this test measures.
      await new Promise((resolve) => setTimeout(resolve, 700));
      const concurrent = await timed(() => Promise.all([browser.get('/me'), browser.get('/data'), browser.get('/me')]));
      for (const result of concurrent.value) expectKeycardError(result, 503, 'KEYCARD_STORE_UNAVAILABLE');
      // A load balancer's probe carries no cookie: one ping, bounded by storeTimeout.
      const health = await timed(() => request(`${app.url}/health`));
      expectStatus(health.value, 503);
      // With a session cookie the request first waits out the session load's deadline, then the ping's.
      const healthWithCookie = await timed(() => browser.get('/health'));
      expectStatus(healthWithCookie.value, 503);
      // The session is loaded before any route runs, so a public route hit with a session cookie
      // waits for the load's deadline too; without a cookie it does not touch the store.
      const publicWithCookie = await timed(() => browser.get('/public/ping'));
      expectStatus(publicWithCookie.value, 200);
      const publicAnonymous = await timed(() => request(`${app.url}/public/ping`));
      expectStatus(publicAnonymous.value, 200);
      console.log(
        `[${platform}] redis hung: 3 concurrent protected requests answered 503 after ${ms(concurrent.ms)}, ` +
          `/health 503 after ${ms(health.ms)} (${ms(healthWithCookie.ms)} with a session cookie; storeTimeout ${STORE_TIMEOUT}); ` +
          `public ping ${ms(publicWithCookie.ms)} with a session cookie, ${ms(publicAnonymous.ms)} without`,
      );
      // The deadline, not an early error, ended the wait; and nothing waited much past it.
      assert.ok(concurrent.ms >= STORE_TIMEOUT - 50, `answered after ${ms(concurrent.ms)}, before the deadline`);
      assert.ok(concurrent.ms < STORE_TIMEOUT + MARGIN, `answered after ${ms(concurrent.ms)}`);
      assert.ok(health.ms >= STORE_TIMEOUT - 50 && health.ms < STORE_TIMEOUT + MARGIN, `/health took ${ms(health.ms)}`);
      assert.ok(healthWithCookie.ms < 2 * STORE_TIMEOUT + MARGIN, `/health with a cookie took ${ms(healthWithCookie.ms)}`);
      assert.ok(publicWithCookie.ms < STORE_TIMEOUT + MARGIN, `public ping took ${ms(publicWithCookie.ms)}`);
      assert.ok(publicAnonymous.ms < STORE_TIMEOUT, `anonymous public ping took ${ms(publicAnonymous.ms)}`);

      redisServer.resume();
      const back = await within(
        RECOVERY_BOUND,
        async () => (await browser.get('/me')).status === 200,
        'the same signed-in session answers 200 after SIGCONT',
      );
      console.log(`[${platform}] redis resumed: the same session answered 200 ${ms(back)} after SIGCONT`);
      expectStatus(await request(`${app.url}/health`), 200);
    });
  });
}
