import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { spawnAppProcess, type AppProcess } from './support/app-process.js';
import { Browser } from './support/browser.js';
import { expectKeycardError, expectStatus, request } from './support/http.js';
import { timed, within } from './support/poll.js';
import { RedisServer, redisServerSkip } from './support/redis-server.js';

// Two real app processes (Express and Fastify) on a redis-server this file starts, kills by
// PID and restarts: each process must answer 503 and stay up through the outage (an
// unhandled rejection or uncaught exception ends a child with code 70), and both must come
// back by themselves, agreeing again on who is signed in.
const skip = redisServerSkip();
const server = skip ? null : await RedisServer.start();

const STORE_TIMEOUT = 500;
/** HTTP between processes on a loaded 2-core machine. */
const MARGIN = 500;
const RECOVERY_BOUND = 2000;
const ms = (value: number): string => `${value.toFixed(0)} ms`;

describe('two app processes when their shared redis-server is killed and restarted', { skip }, () => {
  let instances: AppProcess[] = [];

  before(async () => {
    const redisServer = server as RedisServer;
    const store = { kind: 'redis', url: redisServer.url, prefix: 'multi-outage:' } as const;
    instances = await Promise.all(
      (['express', 'fastify'] as const).map((platform) => spawnAppProcess({ platform, store, storeTimeout: STORE_TIMEOUT })),
    );
  });

  after(async () => {
    await Promise.all(instances.map((instance) => instance.stop()));
    await server?.stop();
  });

  it('outage — both answer 503 within storeTimeout and stay up, and recover without a restart', async () => {
    const redisServer = server as RedisServer;
    const [express, fastify] = instances as [AppProcess, AppProcess];
    const browser = new Browser();
    expectStatus(await browser.post(express.url, '/login', { id: 'henry' }), 201);
    expectStatus(await browser.get(fastify.url, '/me'), 200);
    const oldCookie = browser.cookieHeader() as string;

    const killedAt = performance.now();
    process.kill(redisServer.pid as number, 'SIGKILL');
    await redisServer.kill(); // waits for the exit; the signal is already sent
    const windows: string[] = [];
    for (const instance of instances) {
      const first = await timed(() => browser.get(instance.url, '/me'));
      expectKeycardError(first.value, 503, 'KEYCARD_STORE_UNAVAILABLE');
      windows.push(`${instance.platform} first 503 ${ms(performance.now() - killedAt)} after SIGKILL (request ${ms(first.ms)})`);
      assert.ok(first.ms < STORE_TIMEOUT + MARGIN, `${instance.platform}: 503 took ${ms(first.ms)}`);
      expectStatus(await request(`${instance.url}/public/ping`, { headers: { cookie: oldCookie } }), 200);
      const health = await request(`${instance.url}/health`);
      expectStatus(health, 503);
      assert.deepEqual((health.body as { store?: unknown }).store, 'down');
    }

    const restartedAt = performance.now();
    await redisServer.restart();
    const ready = performance.now();
    for (const instance of instances) {
      const back = await within(
        RECOVERY_BOUND,
        async () => (await request(`${instance.url}/public/read`, { headers: { cookie: oldCookie } })).status === 200,
        `${instance.platform} reads sessions again after the restart`,
      );
      windows.push(`${instance.platform} first 200 ${ms(performance.now() - restartedAt)} after the restart began (redis ready after ${ms(ready - restartedAt)}, polled ${ms(back)})`);
      expectStatus(await request(`${instance.url}/health`), 200);
    }
    console.log(`two processes, redis killed and restarted: ${windows.join('; ')}`);

    // Nothing persisted: the old session is gone on both. A new one works across both, sign-out included.
    for (const instance of instances) expectKeycardError(await browser.get(instance.url, '/me'), 401, 'KEYCARD_UNAUTHENTICATED');
    expectStatus(await browser.post(fastify.url, '/login', { id: 'henry' }), 201);
    const cookie = browser.cookieHeader() as string;
    expectStatus(await browser.get(express.url, '/me'), 200);
    expectStatus(await browser.post(express.url, '/logout'), 204);
    expectKeycardError(await request(`${fastify.url}/me`, { headers: { cookie } }), 401, 'KEYCARD_UNAUTHENTICATED');

    for (const instance of instances) assert.equal(instance.alive, true, `${instance.platform} process survived the outage`);
  });
});
