import 'reflect-metadata';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { RedisStore } from '../src/redis/index.js';
import { WS_CLOSE_SESSION_ENDED } from '../src/nest/ws/index.js';
import { Client, PLATFORMS, expectStatus, startApp, type RunningApp } from './support/http.js';
import { spawnInstance, type Instance } from './support/instance.js';
import { REDIS_URL, redisSkip } from './support/services.js';
import { useKeycardWs, wsApp } from './support/ws-app.js';
import { connect, type TestSocket } from './support/ws-client.js';
import { within } from './support/poll.js';

// Two application instances in two processes share one Redis under a prefix of their own:
// a sign-out on one must close the other's sockets (Redis pub/sub), within a second.
const RUN = `keycard-test:ws:${randomBytes(4).toString('hex')}:`;
const skip = await redisSkip();

async function closedWithin(socket: TestSocket, since: number): Promise<number> {
  const closed = await socket.waitForClose(3000, since);
  assert.equal(closed.code, WS_CLOSE_SESSION_ENDED);
  assert.equal(closed.reason, 'session ended');
  assert.ok(closed.afterMs < 1000, `closed ${closed.afterMs.toFixed(0)} ms after the sign-out on the other instance`);
  return closed.afterMs;
}

/** A client of `instance` holding the cookies of `client` (the same browser talking to another instance). */
function sameBrowser(client: Client, url: string): Client {
  const other = new Client(url);
  other.setCookie('sid', client.cookie('sid') as string);
  return other;
}

for (const platform of PLATFORMS) {
  describe(`keycard/nest/ws across two processes on ${platform}, sharing Redis`, { skip }, () => {
    const prefix = `${RUN}${platform}:`;
    let redis: Redis;
    let store: RedisStore;
    let a: RunningApp;
    let b: Instance;

    before(async () => {
      redis = new Redis(REDIS_URL);
      store = new RedisStore(redis, { prefix });
      // Both start together: the child's Node and Nest boot is the slow part.
      [a, b] = await Promise.all([
        startApp(platform, wsApp({ store }), { configure: useKeycardWs() }),
        spawnInstance(platform, REDIS_URL, prefix),
      ]);
      assert.notEqual(b.pid, process.pid);
    });

    after(async () => {
      await b?.stop();
      await a?.close();
      await store?.close();
      if (redis) {
        // SCAN is fine here: test cleanup, never a request path.
        const keys: string[] = [];
        for await (const batch of redis.scanStream({ match: `${prefix}*`, count: 500 })) keys.push(...(batch as string[]));
        if (keys.length > 0) await redis.unlink(...keys);
        redis.disconnect();
      }
    });

    it('closes a socket on instance A within 1 s when its session signs out on instance B', async (t) => {
      const onA = a.client();
      expectStatus(await onA.post('/login', { id: 'alice' }), 201);
      const socket = await connect(a.url, '/ws', { cookie: onA.cookieHeader() });
      assert.equal(((await socket.ask({ type: 'whoami' })) as { user: { id: string } }).user.id, 'alice');
      const started = performance.now();
      expectStatus(await sameBrowser(onA, b.url).post('/logout'), 204);
      t.diagnostic(`closed ${(await closedWithin(socket, started)).toFixed(1)} ms after the sign-out request to the other process started`);
    });

    it('review #3: a socket on instance B sees the new roles within 1 s of a role change on instance A', async (t) => {
      const laptop = a.client();
      expectStatus(await laptop.post('/login', { id: 'dora', roles: ['admin'] }), 201);
      const onB = await connect(b.url, '/ws', { cookie: laptop.cookieHeader() });
      const roles = async (): Promise<string[]> => ((await onB.ask({ type: 'whoami' })) as { user: { roles: string[] } }).user.roles;
      assert.deepEqual(await roles(), ['admin']);
      expectStatus(await a.client().post('/refresh-principal', { id: 'dora', roles: ['user'] }), 201);
      const took = await within(1000, async () => (await roles()).join() === 'user', 'the demotion on the socket of the other instance');
      t.diagnostic(`new roles seen ${took.toFixed(1)} ms after the role change answered`);
      assert.equal(onB.isOpen, true);
      await onB.close();
    });

    it('closes a socket on instance B within 1 s when A signs the user out everywhere, and leaves other users alone', async (t) => {
      const phone = a.client();
      const laptop = a.client();
      expectStatus(await phone.post('/login', { id: 'bob' }), 201);
      expectStatus(await laptop.post('/login', { id: 'bob' }), 201);
      const bystander = a.client();
      expectStatus(await bystander.post('/login', { id: 'carol' }), 201);
      const onB = await connect(b.url, '/ws', { cookie: laptop.cookieHeader() });
      const carolOnB = await connect(b.url, '/ws', { cookie: bystander.cookieHeader() });
      assert.equal(((await onB.ask({ type: 'whoami' })) as { user: { id: string } }).user.id, 'bob');
      const started = performance.now();
      expectStatus(await phone.post('/revoke-all'), 204);
      t.diagnostic(`closed ${(await closedWithin(onB, started)).toFixed(1)} ms after the revocation request started`);
      assert.equal(((await carolOnB.ask({ type: 'whoami' })) as { user: { id: string } }).user.id, 'carol');
      await carolOnB.close();
    });
  });
}
