/**
 * socket.io gateways behind keycard (`KeycardIoAdapter`), with the real
 * socket.io server and socket.io-client, on Express and on Fastify, and
 * across two processes sharing one Redis.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { io, type Socket } from 'socket.io-client';
import { SessionManager } from '../src/index.js';
import { SocketRegistry } from '../src/nest/index.js';
import { IO_CLOSE_EVENT, type IoCloseNotice } from '../src/nest/socket.io/index.js';
import { RedisStore } from '../src/redis/index.js';
import { spawnListeningScript, type ListeningScript } from './support/app-process.js';
import { Client, PLATFORMS, expectStatus, startApp, type RunningApp } from './support/http.js';
import { ioApp, useKeycardIo } from './support/io-app.js';
import { REDIS_URL, redisSkip } from './support/services.js';
import { within } from './support/poll.js';

const DEADLINE_MS = 5000;

/** socket.io's two transports: a client starts on HTTP long-polling by default (and upgrades), or on WebSocket alone. */
type IoTransport = 'websocket' | 'polling';
const TRANSPORTS: readonly IoTransport[] = ['websocket', 'polling'];

interface ConnectOptions {
  readonly cookie?: string | null;
  readonly origin?: string;
  readonly token?: string;
  /** Default 'websocket'. 'polling' stays on long-polling (no upgrade), so every packet goes over HTTP requests. */
  readonly transport?: IoTransport | 'default';
}

/** Connects with the real client; resolves with the socket or the connect_error. */
function open(url: string, options: ConnectOptions = {}): Promise<{ socket: Socket } | { error: Error & { data?: { statusCode: number; code: string } } }> {
  const extraHeaders: Record<string, string> = {};
  if (options.cookie) extraHeaders['cookie'] = options.cookie;
  if (options.origin) extraHeaders['origin'] = options.origin;
  const transport = options.transport ?? 'websocket';
  const socket = io(url, {
    // 'default': socket.io-client's own choice, long-polling first, then the upgrade to WebSocket.
    ...(transport === 'default' ? {} : { transports: [transport], upgrade: false }),
    reconnection: false,
    extraHeaders,
    ...(options.token ? { auth: { token: options.token } } : {}),
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no connect or connect_error within 5 s')), DEADLINE_MS);
    socket.once('connect', () => {
      clearTimeout(timer);
      resolve({ socket });
    });
    socket.once('connect_error', (error) => {
      clearTimeout(timer);
      socket.close();
      resolve({ error });
    });
  });
}

async function connected(url: string, options: ConnectOptions): Promise<Socket> {
  const result = await open(url, options);
  if ('error' in result) assert.fail(`expected a connection, got connect_error ${result.error.message}`);
  return result.socket;
}

interface Disconnect {
  readonly reason: string;
  readonly at: number;
  /** The WebSocket close code the client saw, when the transport was a WebSocket that closed. */
  readonly closeCode: number | undefined;
  /** What keycard said before disconnecting (IO_CLOSE_EVENT), if anything. */
  readonly notice: IoCloseNotice | undefined;
}

function disconnected(socket: Socket, deadlineMs = DEADLINE_MS): Promise<Disconnect> {
  let notice: IoCloseNotice | undefined;
  socket.once(IO_CLOSE_EVENT, (received: IoCloseNotice) => (notice = received));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`still connected after ${deadlineMs} ms`)), deadlineMs);
    socket.once('disconnect', (reason, description) => {
      clearTimeout(timer);
      const closeCode = (description as { context?: { code?: number } } | undefined)?.context?.code;
      resolve({ reason, at: performance.now(), closeCode, notice });
    });
  });
}

/** `socketClosed` reasons reported by the manager's events, in order. */
function closeReasons(app: RunningApp): string[] {
  const reasons: string[] = [];
  app.app.get(SessionManager).events.on('socketClosed', (event) => reasons.push(event.reason ?? ''));
  return reasons;
}

/** Emits an event and resolves with the ack, or with the `exception` event keycard's guards answer with. */
function ask(socket: Socket, event: string, data: unknown = {}): Promise<{ ack: unknown } | { exception: { code?: string; statusCode?: number } }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer to ${event}`)), DEADLINE_MS);
    const onException = (exception: { code?: string }): void => {
      clearTimeout(timer);
      resolve({ exception });
    };
    socket.once('exception', onException);
    socket.emit(event, data, (ack: unknown) => {
      clearTimeout(timer);
      socket.off('exception', onException);
      resolve({ ack });
    });
  });
}

async function signIn(client: Client, id: string, roles: string[] = ['user']): Promise<string> {
  expectStatus(await client.post('/login', { id, roles }), 201);
  return client.cookieHeader() as string;
}

for (const platform of PLATFORMS) {
  describe(`KeycardIoAdapter on ${platform}`, () => {
    let app: RunningApp;
    let reasons: string[];
    before(async () => {
      app = await startApp(platform, ioApp(), { configure: useKeycardIo() });
      reasons = closeReasons(app);
    });
    after(() => app.close());

    for (const transport of TRANSPORTS) {
      describe(`over ${transport === 'polling' ? 'HTTP long-polling' : 'WebSocket'}`, () => {
        it('a connection without a session is refused with a connect_error that says why', async () => {
          const result = await open(app.url, { transport });
          assert.ok('error' in result);
          assert.equal(result.error.message, 'Sign in to continue.');
          assert.deepEqual([result.error.data?.statusCode, result.error.data?.code], [401, 'KEYCARD_UNAUTHENTICATED']);
        });

        it('a cross-site Origin is refused even with a valid cookie', async () => {
          const cookie = await signIn(app.client(), `mallory-victim-${transport}`);
          const result = await open(app.url, { cookie, origin: 'http://evil.example', transport });
          assert.ok('error' in result);
          assert.equal(result.error.data?.code, 'KEYCARD_FORBIDDEN_ORIGIN');
        });

        it('a connection with the session cookie is accepted; @CurrentUser() and @Session() work in handlers', async () => {
          const socket = await connected(app.url, { cookie: await signIn(app.client(), `ivy-${transport}`), origin: app.url, transport });
          assert.equal(socket.io.engine.transport.name, transport);
          assert.deepEqual(await ask(socket, 'whoami'), { ack: { id: `ivy-${transport}`, roles: ['user'] } });
          const session = (await ask(socket, 'session')) as { ack: { handle: string } };
          assert.equal(typeof session.ack.handle, 'string');
          socket.close();
        });

        it('a bearer token in `auth` authenticates a client without cookies', async () => {
          const issued = await app.client().post('/token', { id: `cli-user-${transport}` });
          const { token } = issued.body as { token: string };
          const socket = await connected(app.url, { token, transport });
          assert.deepEqual(await ask(socket, 'whoami'), { ack: { id: `cli-user-${transport}`, roles: ['user'] } });
          socket.close();
        });

        it('@Roles("admin") refuses a user (exception FORBIDDEN) and answers an admin', async () => {
          const user = await connected(app.url, { cookie: await signIn(app.client(), `jack-${transport}`), transport });
          const refused = await ask(user, 'admin', { x: 1 });
          assert.ok('exception' in refused, JSON.stringify(refused));
          assert.equal(refused.exception.code, 'KEYCARD_FORBIDDEN_ROLE');
          assert.equal(refused.exception.statusCode, 403);
          const admin = await connected(app.url, { cookie: await signIn(app.client(), `kim-${transport}`, ['admin']), transport });
          assert.deepEqual(await ask(admin, 'admin', { x: 1 }), { ack: { ok: true, body: { x: 1 } } });
          user.close();
          admin.close();
        });

        it('review #3: @Roles("admin") refuses a socket within a second of its user being demoted (refreshPrincipal), the socket staying open', async () => {
          const id = `demoted-${transport}`;
          const socket = await connected(app.url, { cookie: await signIn(app.client(), id, ['admin']), transport });
          assert.deepEqual(await ask(socket, 'admin', { x: 1 }), { ack: { ok: true, body: { x: 1 } } });
          expectStatus(await app.client().post('/refresh-principal', { id, roles: ['user'] }), 201);
          await within(1000, async () => {
            const answer = await ask(socket, 'admin', { x: 2 });
            return 'exception' in answer && answer.exception.code === 'KEYCARD_FORBIDDEN_ROLE';
          }, 'the admin message refused after the demotion');
          assert.deepEqual(await ask(socket, 'whoami'), { ack: { id, roles: ['user'] } });
          assert.equal(socket.connected, true);
          socket.close();
        });

        it('is disconnected within a second of signing out, told why (4401 "session ended"), counted as session-ended', async () => {
          const client = app.client();
          const socket = await connected(app.url, { cookie: await signIn(client, `lee-${transport}`), transport });
          const gone = disconnected(socket);
          const started = performance.now();
          reasons.length = 0;
          expectStatus(await client.post('/logout'), 204);
          const { at, reason, notice } = await gone;
          assert.equal(reason, 'io server disconnect');
          assert.deepEqual(notice, { code: 4401, reason: 'session ended' });
          assert.ok(at - started < 1000, `disconnected after ${(at - started).toFixed(0)} ms`);
          await within(1000, async () => reasons.length > 0, 'the socketClosed event');
          assert.deepEqual(reasons, ['session-ended']);
        });

        it('more than 20 events in a second disconnect the socket: told 1008, counted as rate-limited', async () => {
          const socket = await connected(app.url, { cookie: await signIn(app.client(), `spammer-${transport}`), transport });
          const gone = disconnected(socket);
          reasons.length = 0;
          for (let i = 0; i < 25; i++) socket.emit('ping');
          const { reason, notice } = await gone;
          assert.equal(reason, 'io server disconnect');
          assert.deepEqual(notice, { code: 1008, reason: 'message rate exceeded' });
          await within(1000, async () => reasons.length > 0, 'the socketClosed event');
          assert.deepEqual(reasons, ['rate-limited']);
        });

        it('a message over 16 KiB closes the connection (counted as message-too-big); one just under it is handled', async () => {
          const socket = await connected(app.url, { cookie: await signIn(app.client(), `big-${transport}`), transport });
          // socket.io's encoding adds a few bytes around the payload: 16 000 characters stay under 16 KiB.
          assert.deepEqual(await ask(socket, 'echo', 'y'.repeat(16_000)), { ack: 16_000 });
          const gone = disconnected(socket);
          reasons.length = 0;
          socket.emit('echo', 'x'.repeat(17 * 1024));
          const { reason, closeCode, notice } = await gone;
          // socket.io has no close codes of its own: the transport ends. Over WebSocket the client sees ws' 1009.
          assert.equal(reason, 'transport close');
          assert.equal(closeCode, transport === 'websocket' ? 1009 : undefined);
          assert.equal(notice, undefined);
          await within(1000, async () => reasons.length > 0, 'the socketClosed event');
          assert.deepEqual(reasons, ['message-too-big']);
        });
      });
    }

    it("the client's default (long-polling, then the upgrade to WebSocket) stays the same signed-in socket, and is disconnected at sign-out", async () => {
      const client = app.client();
      const socket = await connected(app.url, { cookie: await signIn(client, 'upgrader'), origin: app.url, transport: 'default' });
      await within(3000, async () => socket.io.engine.transport.name === 'websocket', 'the upgrade to WebSocket');
      assert.deepEqual(await ask(socket, 'whoami'), { ack: { id: 'upgrader', roles: ['user'] } });
      const gone = disconnected(socket);
      expectStatus(await client.post('/logout'), 204);
      assert.deepEqual((await gone).notice, { code: 4401, reason: 'session ended' });
    });

    it('a socket that leaves by itself is counted as closed', async () => {
      const socket = await connected(app.url, { cookie: await signIn(app.client(), 'leaver') });
      reasons.length = 0;
      socket.close();
      await within(1000, async () => reasons.length > 0, 'the socketClosed event');
      assert.deepEqual(reasons, ['closed']);
    });

    it("uses the application's one SocketRegistry (SessionModule's)", async () => {
      const registry = app.app.get(SocketRegistry);
      const before = registry.size;
      const socket = await connected(app.url, { cookie: await signIn(app.client(), 'counted') });
      assert.equal(registry.size, before + 1);
      socket.close();
      await within(1000, async () => registry.size === before, 'the socket to be untracked');
    });
  });
}

const skip = await redisSkip();
const RUN = `keycard-test:io:${randomBytes(4).toString('hex')}:`;
const INSTANCE = fileURLToPath(new URL('./support/io-instance.js', import.meta.url));

for (const platform of PLATFORMS) {
  describe(`KeycardIoAdapter across two processes on ${platform}, sharing Redis`, { skip }, () => {
    const prefix = `${RUN}${platform}:`;
    let redis: Redis;
    let store: RedisStore;
    let a: RunningApp;
    let b: ListeningScript;

    before(async () => {
      redis = new Redis(REDIS_URL);
      store = new RedisStore(redis, { prefix });
      [a, b] = await Promise.all([
        startApp(platform, ioApp({ store }), { configure: useKeycardIo() }),
        spawnListeningScript(INSTANCE, [platform, REDIS_URL, prefix], `socket.io instance on ${platform}`, 15_000),
      ]);
    });

    after(async () => {
      await b?.stop();
      await a?.close();
      await store?.close();
      if (redis) {
        const keys: string[] = [];
        for await (const batch of redis.scanStream({ match: `${prefix}*`, count: 500 })) keys.push(...(batch as string[]));
        if (keys.length > 0) await redis.unlink(...keys);
        redis.disconnect();
      }
    });

    it('review #3: a socket on instance A loses @Roles("admin") within 1 s of a demotion on instance B', async (t) => {
      const socket = await connected(a.url, { cookie: await signIn(a.client(), 'olga', ['admin']) });
      assert.deepEqual(await ask(socket, 'admin', { x: 1 }), { ack: { ok: true, body: { x: 1 } } });
      const started = performance.now();
      expectStatus(await new Client(b.url).post('/refresh-principal', { id: 'olga', roles: ['user'] }), 201);
      const took = await within(1000, async () => {
        const answer = await ask(socket, 'admin', { x: 2 });
        return 'exception' in answer && answer.exception.code === 'KEYCARD_FORBIDDEN_ROLE';
      }, 'the admin message refused on A after the demotion on B');
      t.diagnostic(`refused ${(performance.now() - started).toFixed(1)} ms after the demotion request started (${took.toFixed(1)} ms after it answered)`);
      socket.close();
    });

    it('a socket on instance A is disconnected within 1 s of signing out on instance B', async (t) => {
      const onA = a.client();
      const socket = await connected(a.url, { cookie: await signIn(onA, 'nina') });
      assert.deepEqual(await ask(socket, 'whoami'), { ack: { id: 'nina', roles: ['user'] } });
      const onB = new Client(b.url);
      onB.setCookie('sid', onA.cookie('sid') as string);
      const gone = disconnected(socket);
      const started = performance.now();
      expectStatus(await onB.post('/logout'), 204);
      const { at } = await gone;
      t.diagnostic(`disconnected ${(at - started).toFixed(1)} ms after the sign-out request to the other process started`);
      assert.ok(at - started < 1000, `disconnected after ${(at - started).toFixed(0)} ms`);
    });
  });
}
