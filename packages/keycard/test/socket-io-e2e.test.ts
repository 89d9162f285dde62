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
import { RedisStore } from '../src/redis/index.js';
import { spawnListeningScript, type ListeningScript } from './support/app-process.js';
import { Client, PLATFORMS, expectStatus, startApp, type RunningApp } from './support/http.js';
import { ioApp, useKeycardIo } from './support/io-app.js';
import { REDIS_URL, redisSkip } from './support/services.js';

const DEADLINE_MS = 5000;

interface ConnectOptions {
  readonly cookie?: string | null;
  readonly origin?: string;
  readonly token?: string;
}

/** Connects with the real client (WebSocket transport, as browsers end up using); resolves with the socket or the connect_error. */
function open(url: string, options: ConnectOptions = {}): Promise<{ socket: Socket } | { error: Error & { data?: { statusCode: number; code: string } } }> {
  const extraHeaders: Record<string, string> = {};
  if (options.cookie) extraHeaders['cookie'] = options.cookie;
  if (options.origin) extraHeaders['origin'] = options.origin;
  const socket = io(url, { transports: ['websocket'], reconnection: false, extraHeaders, ...(options.token ? { auth: { token: options.token } } : {}) });
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

function disconnected(socket: Socket, deadlineMs = DEADLINE_MS): Promise<{ reason: string; at: number }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`still connected after ${deadlineMs} ms`)), deadlineMs);
    socket.once('disconnect', (reason) => {
      clearTimeout(timer);
      resolve({ reason, at: performance.now() });
    });
  });
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
    before(async () => {
      app = await startApp(platform, ioApp(), { configure: useKeycardIo() });
    });
    after(() => app.close());

    it('a connection without a session is refused with a connect_error that says why', async () => {
      const result = await open(app.url);
      assert.ok('error' in result);
      assert.equal(result.error.message, 'Sign in to continue.');
      assert.deepEqual([result.error.data?.statusCode, result.error.data?.code], [401, 'KEYCARD_UNAUTHENTICATED']);
    });

    it('a cross-site Origin is refused even with a valid cookie', async () => {
      const cookie = await signIn(app.client(), 'mallory-victim');
      const result = await open(app.url, { cookie, origin: 'http://evil.example' });
      assert.ok('error' in result);
      assert.equal(result.error.data?.code, 'KEYCARD_FORBIDDEN_ORIGIN');
    });

    it('a connection with the session cookie is accepted; @CurrentUser() and @Session() work in handlers', async () => {
      const socket = await connected(app.url, { cookie: await signIn(app.client(), 'ivy'), origin: app.url });
      assert.deepEqual(await ask(socket, 'whoami'), { ack: { id: 'ivy', roles: ['user'] } });
      const session = (await ask(socket, 'session')) as { ack: { handle: string } };
      assert.equal(typeof session.ack.handle, 'string');
      socket.close();
    });

    it('a bearer token in `auth` authenticates a client without cookies', async () => {
      const issued = await app.client().post('/token', { id: 'cli-user' });
      const { token } = issued.body as { token: string };
      const socket = await connected(app.url, { token });
      assert.deepEqual(await ask(socket, 'whoami'), { ack: { id: 'cli-user', roles: ['user'] } });
      socket.close();
    });

    it('@Roles("admin") refuses a user (exception FORBIDDEN) and answers an admin', async () => {
      const user = await connected(app.url, { cookie: await signIn(app.client(), 'jack') });
      const refused = await ask(user, 'admin', { x: 1 });
      assert.ok('exception' in refused, JSON.stringify(refused));
      assert.equal(refused.exception.code, 'KEYCARD_FORBIDDEN_ROLE');
      assert.equal(refused.exception.statusCode, 403);
      const admin = await connected(app.url, { cookie: await signIn(app.client(), 'kim', ['admin']) });
      assert.deepEqual(await ask(admin, 'admin', { x: 1 }), { ack: { ok: true, body: { x: 1 } } });
      user.close();
      admin.close();
    });

    it('is disconnected within a second of signing out', async () => {
      const client = app.client();
      const socket = await connected(app.url, { cookie: await signIn(client, 'lee') });
      const gone = disconnected(socket);
      const started = performance.now();
      expectStatus(await client.post('/logout'), 204);
      const { at, reason } = await gone;
      assert.equal(reason, 'io server disconnect');
      assert.ok(at - started < 1000, `disconnected after ${(at - started).toFixed(0)} ms`);
    });

    it('more than 20 events in a second disconnect the socket', async () => {
      const socket = await connected(app.url, { cookie: await signIn(app.client(), 'spammer') });
      const gone = disconnected(socket);
      for (let i = 0; i < 25; i++) socket.emit('ping');
      assert.equal((await gone).reason, 'io server disconnect');
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
