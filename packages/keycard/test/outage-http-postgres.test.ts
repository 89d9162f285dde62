import assert from 'node:assert/strict';
import { after, afterEach, beforeEach, describe, it } from 'node:test';
import pg from 'pg';
import { SessionManager } from '../src/index.js';
import { PostgresStore, pgPoolClient } from '../src/postgres/index.js';
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
import { PG_DRIVERS, openPool, type DriverPool } from './support/pg-drivers.js';
import { DATABASE_URL, postgresSkip } from './support/services.js';
import { TcpProxy } from './support/tcp-proxy.js';

// An application on a PostgresStore whose pg Pool goes through a TCP proxy in front of the
// shared PostgreSQL: the test takes the database away from this app only (refused
// connections, as during a restart; or connections that never answer, as in a partition)
// and gives it back. The shared server itself is never stopped.
const TABLE = `kc_outage_http_${process.pid}`;
const STORE_TIMEOUT = 500;
/** HTTP and Nest on top of the store call, on a loaded 2-core machine. */
const MARGIN = 500;
const RECOVERY_BOUND = 2000;
/** The app pool's connect timeout: a connection attempt into the partition gives up after this. */
const CONNECT_TIMEOUT = 1000;

const skip = await postgresSkip();
const upstream = new URL(DATABASE_URL);
let direct: pg.Pool | undefined;
if (!skip) {
  direct = new pg.Pool({ connectionString: DATABASE_URL, max: 2 });
  await direct.query(`DROP TABLE IF EXISTS ${TABLE}`);
  await new PostgresStore({ client: pgPoolClient(direct), table: TABLE, sweepInterval: 0 }).migrate();
}
after(async () => {
  await direct?.query(`DROP TABLE IF EXISTS ${TABLE}`);
  await direct?.end();
});

const ms = (value: number): string => `${value.toFixed(0)} ms`;

for (const [platform, driver] of PLATFORMS.flatMap((p) => PG_DRIVERS.map((d) => [p, d] as const))) {
  describe(`HTTP on ${platform} when the PostgreSQL session store (${driver} driver) goes down`, { skip }, () => {
    let proxy: TcpProxy;
    let pool: DriverPool;
    let store: PostgresStore;
    let app: RunningApp;
    let failures: ReturnType<typeof watchProcessFailures>;

    beforeEach(async () => {
      failures = watchProcessFailures();
      proxy = new TcpProxy(upstream.hostname, Number(upstream.port || 5432));
      const url = new URL(DATABASE_URL);
      url.port = String(await proxy.listen());
      // No pool 'error' listener here: pgPoolClient must keep an idle connection's death from crashing the app.
      pool = openPool(driver, url.href, { max: 4, connectTimeoutMs: CONNECT_TIMEOUT });
      store = new PostgresStore({ client: pool.client, table: TABLE, sweepInterval: 0 });
      app = await startApp(platform, healthApp({ store, storeTimeout: STORE_TIMEOUT }));
    });

    afterEach(async () => {
      await app.close();
      await store.close();
      await proxy.close();
      await pool.end();
      assert.deepEqual(await failures.stop(), [], 'no unhandled rejection or uncaught exception during the outage');
    });

    async function signIn(client: Client, id: string): Promise<void> {
      expectStatus(await client.post('/login', { id }), 201);
      const me = await client.get('/me');
      expectStatus(me, 200);
      assert.equal((me.body as { user: { id: string } }).user.id, id);
    }

    it('the database refuses connections: 503 at once on protected routes, public routes keep answering, /health says down; service returns with the same session', async () => {
      const manager = app.app.get(SessionManager);
      const browser = app.client();
      await signIn(browser, `alice-${platform}`);
      expectStatus(await request(`${app.url}/health`), 200);

      const cutAt = performance.now();
      proxy.mode = 'refuse';
      proxy.cut();
      const first = await timed(() => browser.get('/me'));
      const cutToFirst503 = performance.now() - cutAt;
      expectKeycardError(first.value, 503, 'KEYCARD_STORE_UNAVAILABLE');
      const latencies = [first.ms];
      for (let i = 0; i < 10; i++) {
        const { value, ms: took } = await timed(() => browser.get('/me'));
        expectKeycardError(value, 503, 'KEYCARD_STORE_UNAVAILABLE');
        latencies.push(took);
      }
      const publicWithCookie = await timed(() => browser.get('/public/ping'));
      expectStatus(publicWithCookie.value, 200);
      const refusedLogin = await app.client().post('/login', { id: 'bob' });
      expectKeycardError(refusedLogin, 503, 'KEYCARD_STORE_UNAVAILABLE');
      expectNoSetCookie(refusedLogin);
      const health = await timed(() => request(`${app.url}/health`));
      expectStatus(health.value, 503);
      assert.deepEqual(health.value.body && (health.value.body as { store?: string }).store, 'down');
      assert.deepEqual(await manager.health(), { store: 'down' });
      const worst = Math.max(...latencies, health.ms);
      console.log(
        `[${platform}, ${driver}] postgres refused: first 503 ${ms(cutToFirst503)} after the cut; ` +
          `11 protected requests ${latencies.map((v) => v.toFixed(0)).join('/')} ms (worst ${ms(worst)}, storeTimeout ${STORE_TIMEOUT}); ` +
          `public ping with cookie ${ms(publicWithCookie.ms)}; /health 503 in ${ms(health.ms)}`,
      );
      assert.ok(worst < STORE_TIMEOUT + MARGIN, `worst 503 took ${ms(worst)}`);
      assert.ok(publicWithCookie.ms < STORE_TIMEOUT + MARGIN, `public ping took ${ms(publicWithCookie.ms)}`);

      const restoredAt = performance.now();
      proxy.mode = 'forward';
      const back = await within(
        RECOVERY_BOUND,
        async () => (await browser.get('/me')).status === 200,
        'the same signed-in session answers 200 after the database is back',
      );
      console.log(`[${platform}, ${driver}] postgres back: the same session answered 200 ${ms(back)} after the restore`);
      assert.ok(performance.now() - restoredAt < RECOVERY_BOUND);
      // PostgreSQL kept the session: the cookie from before the outage still works, and new sign-ins do too.
      expectStatus(await browser.get('/data'), 200);
      await signIn(app.client(), 'bob');
      expectStatus(await request(`${app.url}/health`), 200);
      assert.deepEqual(await manager.health(), { store: 'up' });
    });

    it('the database stops answering (partition): 503 at the storeTimeout deadline, not later; service returns when the partition heals', async () => {
      const browser = app.client();
      await signIn(browser, `carol-${platform}`);

      proxy.mode = 'blackhole';
      proxy.cut();
      const concurrent = await timed(() => Promise.all([browser.get('/me'), browser.get('/data'), browser.get('/me')]));
      for (const result of concurrent.value) expectKeycardError(result, 503, 'KEYCARD_STORE_UNAVAILABLE');
      const health = await timed(() => request(`${app.url}/health`));
      expectStatus(health.value, 503);
      const publicAnonymous = await timed(() => request(`${app.url}/public/ping`));
      expectStatus(publicAnonymous.value, 200);
      console.log(
        `[${platform}, ${driver}] postgres partitioned: 3 concurrent protected requests answered 503 after ${ms(concurrent.ms)}, ` +
          `/health 503 after ${ms(health.ms)} (storeTimeout ${STORE_TIMEOUT}); anonymous public ping ${ms(publicAnonymous.ms)}`,
      );
      assert.ok(concurrent.ms >= STORE_TIMEOUT - 50, `answered after ${ms(concurrent.ms)}, before the deadline`);
      assert.ok(concurrent.ms < STORE_TIMEOUT + MARGIN, `answered after ${ms(concurrent.ms)}`);
      assert.ok(health.ms >= STORE_TIMEOUT - 50 && health.ms < STORE_TIMEOUT + MARGIN, `/health took ${ms(health.ms)}`);
      assert.ok(publicAnonymous.ms < STORE_TIMEOUT, `anonymous public ping took ${ms(publicAnonymous.ms)}`);

      // The partition heals: connection attempts stuck in it give up at the pool's connect timeout,
      // new ones get through. Nothing is restarted.
      proxy.mode = 'forward';
      const back = await within(
        RECOVERY_BOUND,
        async () => (await browser.get('/me')).status === 200,
        'the same signed-in session answers 200 after the partition heals',
      );
      console.log(
        `[${platform}, ${driver}] postgres partition healed: the same session answered 200 ${ms(back)} later ` +
          `(pool connect timeout ${CONNECT_TIMEOUT} ms)`,
      );
      expectStatus(await request(`${app.url}/health`), 200);
    });
  });
}
