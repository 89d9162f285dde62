/**
 * Bytes per session in Redis: keycard's layout (one hash per session plus a
 * per-user sorted set index) against connect-redis 9 (one JSON string per
 * session, no index), for the same signed-in user and device metadata.
 *
 * keycard's sessions are made the way a sign-in makes them (SessionManager
 * `load` → `Session.signIn` → `commit`, the calls the Nest binding makes for a
 * request); connect-redis gets the object express-session saves after
 * passport's `req.login` (its `Cookie` serialised by `toJSON`, plus
 * `passport.user`), through `RedisStore.set`. Sizes are `MEMORY USAGE key
 * SAMPLES 0` of every key a layout creates, and, as a cross-check that also
 * counts what MEMORY USAGE leaves out (the expires dictionary, the keyspace's
 * own table), the growth of `used_memory` over a bulk of sessions.
 *
 * Each configuration gets a fresh private redis-server: a hash's encoding is
 * chosen when it is written, so `hash-max-listpack-value` must be set first.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { RedisStore as ConnectRedisStore } from 'connect-redis';
import session from 'express-session';
import { Redis } from 'ioredis';
import { SessionManager, type Principal } from 'keycard';
import { RedisStore } from 'keycard/redis';
import { createClient } from 'redis';
import { PrivateRedis } from '../harness/redis-server.js';
import { result, type Experiment, type ExperimentResult, type Figure, type Scale } from './experiment.js';

/** A current desktop Chrome, as it sends `User-Agent` (reduced UA, 2025). */
export const CHROME_USER_AGENT =
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/138.0.0.0 Safari/537.36';
const CLIENT_IP = '203.0.113.195';
const SECRET = 'footprint-secret-0123456789abcdefghijklmnopqrstuvwxyz';
/** express-session's cookie as the bench's express-session variant sets it, with keycard's default idle timeout. */
const COOKIE_OPTIONS = { httpOnly: true, sameSite: 'lax' as const, maxAge: 1_800_000 };
/** A value length that keeps every field of a signed-in session's hash in a listpack. */
const RAISED_LISTPACK_VALUE = 256;

interface User {
  readonly id: string;
  readonly email: string;
  readonly name: string;
  readonly roles: readonly string[];
}

function makeUser(): User {
  return { id: randomUUID(), email: 'ada.lovelace@example.com', name: 'Ada Lovelace', roles: ['user'] };
}

/** The principal the reference app keeps in the session (apps/demo `principalOf`). */
function principalOf(user: User): Principal {
  return { id: user.id, roles: user.roles, authVersion: 1, claims: { email: user.email, name: user.name } };
}

/** MEMORY USAGE of keys, all samples; 0 for a key that does not exist. */
async function memoryUsage(client: Redis, keys: readonly string[]): Promise<number[]> {
  const sizes = await Promise.all(keys.map((key) => client.call('MEMORY', 'USAGE', key, 'SAMPLES', '0')));
  return sizes.map((size) => (typeof size === 'number' ? size : 0));
}

async function usedMemory(client: Redis): Promise<number> {
  const info = await client.info('memory');
  return Number(/^used_memory:(\d+)/m.exec(info)?.[1] ?? Number.NaN);
}

async function encoding(client: Redis, key: string): Promise<string> {
  return String(await client.call('OBJECT', 'ENCODING', key));
}

export interface KeycardLayout {
  readonly sessionsPerUser: number;
  /** Mean MEMORY USAGE of one session hash. */
  readonly hashBytes: number;
  /** MEMORY USAGE of the user's index. */
  readonly indexBytes: number;
  /** hashBytes + indexBytes / sessionsPerUser. */
  readonly bytesPerSession: number;
  readonly hashEncoding: string;
  readonly indexEncoding: string;
  /** Length of the longest field value (decides listpack vs hashtable). */
  readonly longestValue: number;
}

export interface ConnectLayout {
  readonly variant: 'user-object' | 'user-id';
  readonly bytesPerSession: number;
  readonly valueLength: number;
  readonly encoding: string;
}

export interface BulkFigure {
  readonly layout: string;
  readonly sessions: number;
  /** used_memory growth divided by sessions. */
  readonly bytesPerSession: number;
}

export interface ConfigMeasurement {
  readonly config: 'default' | 'raised-listpack';
  readonly hashMaxListpackValue: number;
  readonly keycard: readonly KeycardLayout[];
  readonly connect: readonly ConnectLayout[];
  readonly bulk: readonly BulkFigure[];
}

export interface FootprintData {
  readonly redisVersion: string;
  readonly userAgent: string;
  readonly ip: string;
  readonly configs: readonly ConfigMeasurement[];
}

/** Signs `user` in `count` times (fresh browsers), as a request through the Nest binding would. */
async function signInKeycard(manager: SessionManager, user: User, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    const request = { secure: false, userAgent: CHROME_USER_AGENT, ip: CLIENT_IP };
    const current = await manager.load(request);
    await current.signIn(principalOf(user));
    const headers = await manager.commit(current);
    if (!headers.some(([name]) => name === 'Set-Cookie')) throw new Error('keycard sign-in set no cookie');
  }
}

async function measureKeycard(client: Redis, store: RedisStore, manager: SessionManager, sessionsPerUser: number): Promise<KeycardLayout> {
  const user = makeUser();
  await signInKeycard(manager, user, sessionsPerUser);
  const records = await store.listByUser(user.id, Date.now());
  if (records.length !== sessionsPerUser) throw new Error(`listByUser found ${records.length} sessions, expected ${sessionsPerUser}`);
  const hashKeys = records.map((record) => store.sessionKey(record.id));
  const hashSizes = await memoryUsage(client, hashKeys);
  const [indexBytes = 0] = await memoryUsage(client, [store.userKey(user.id)]);
  const hashBytes = hashSizes.reduce((a, b) => a + b, 0) / hashSizes.length;
  const values = (await client.hvals(hashKeys[0] as string)).map((value) => Buffer.byteLength(value));
  return {
    sessionsPerUser,
    hashBytes,
    indexBytes,
    bytesPerSession: hashBytes + indexBytes / sessionsPerUser,
    hashEncoding: await encoding(client, hashKeys[0] as string),
    indexEncoding: await encoding(client, store.userKey(user.id)),
    longestValue: Math.max(...values),
  };
}

/** What express-session hands to `store.set` after passport's `req.login`, with the device facts the app keeps itself. */
function connectSession(user: User, variant: ConnectLayout['variant']): session.SessionData {
  // express-session's Cookie takes its options in the constructor; its typings declare none.
  const Cookie = session.Cookie as unknown as new (options: typeof COOKIE_OPTIONS) => session.Cookie;
  const now = Date.now();
  return {
    cookie: new Cookie(COOKIE_OPTIONS),
    passport: { user: variant === 'user-object' ? { ...user } : user.id },
    device: { userAgent: CHROME_USER_AGENT, ip: CLIENT_IP, createdAt: now, lastSeenAt: now },
  } as unknown as session.SessionData;
}

/** express-session's default id: uid-safe of 24 bytes. */
function connectSid(): string {
  return randomBytes(24).toString('base64url');
}

function saveConnect(store: ConnectRedisStore, sid: string, data: session.SessionData): Promise<void> {
  return new Promise((resolve, reject) => store.set(sid, data, (error?: unknown) => (error ? reject(error as Error) : resolve())));
}

async function measureConnect(client: Redis, store: ConnectRedisStore, variant: ConnectLayout['variant']): Promise<ConnectLayout> {
  const sid = connectSid();
  await saveConnect(store, sid, connectSession(makeUser(), variant));
  const key = `sess:${sid}`;
  const [bytes = 0] = await memoryUsage(client, [key]);
  return { variant, bytesPerSession: bytes, valueLength: Number(await client.strlen(key)), encoding: await encoding(client, key) };
}

/** used_memory growth per session over `users` users with `sessionsPerUser` sessions each. */
async function bulk(client: Redis, layout: string, sessions: number, create: () => Promise<void>): Promise<BulkFigure> {
  const before = await usedMemory(client);
  await create();
  const after = await usedMemory(client);
  return { layout, sessions, bytesPerSession: (after - before) / sessions };
}

async function inParallel(count: number, width: number, task: (index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) await task(next++);
  };
  await Promise.all(Array.from({ length: Math.min(width, count) }, worker));
}

async function measureConfig(config: ConfigMeasurement['config'], bulkSessions: number): Promise<ConfigMeasurement> {
  const redis = await PrivateRedis.start();
  const client = new Redis(redis.url, { lazyConnect: true });
  const nodeRedis = createClient({ url: redis.url });
  try {
    await client.connect();
    await nodeRedis.connect();
    if (config === 'raised-listpack') await client.config('SET', 'hash-max-listpack-value', String(RAISED_LISTPACK_VALUE));
    const listpack = Number((await client.config('GET', 'hash-max-listpack-value'))[1]);
    const store = new RedisStore(client);
    const manager = new SessionManager({ secrets: [SECRET], store });
    const connect = new ConnectRedisStore({ client: nodeRedis });
    const keycard = [await measureKeycard(client, store, manager, 1), await measureKeycard(client, store, manager, 10)];
    const connectLayouts = [await measureConnect(client, connect, 'user-object'), await measureConnect(client, connect, 'user-id')];
    const figures: BulkFigure[] = [];
    for (const perUser of [1, 10]) {
      const users = Math.max(1, Math.round(bulkSessions / perUser));
      figures.push(
        await bulk(client, `keycard, ${perUser} per user`, users * perUser, () =>
          inParallel(users, 16, () => signInKeycard(manager, makeUser(), perUser)),
        ),
      );
    }
    figures.push(
      await bulk(client, 'connect-redis, user object', bulkSessions, () =>
        inParallel(bulkSessions, 16, () => saveConnect(connect, connectSid(), connectSession(makeUser(), 'user-object'))),
      ),
    );
    await store.close();
    return { config, hashMaxListpackValue: listpack, keycard, connect: connectLayouts, bulk: figures };
  } finally {
    client.disconnect();
    await nodeRedis.close().catch(() => nodeRedis.destroy());
    await redis.stop();
  }
}

const bytes = (n: number): string => `${Math.round(n)} B`;

function figuresOf(measured: readonly ConfigMeasurement[]): Figure[] {
  const out: Figure[] = [];
  for (const m of measured) {
    const label = m.config === 'default' ? 'default config' : `hash-max-listpack-value ${m.hashMaxListpackValue}`;
    const [one, ten] = m.keycard;
    const object = m.connect.find((c) => c.variant === 'user-object');
    const id = m.connect.find((c) => c.variant === 'user-id');
    if (!one || !ten || !object || !id) continue;
    out.push(
      {
        label: `keycard, user with 1 session (${label})`,
        value: `${bytes(one.bytesPerSession)} (hash ${bytes(one.hashBytes)} ${one.hashEncoding} + index ${bytes(one.indexBytes)})`,
      },
      {
        label: `keycard, user with 10 sessions (${label})`,
        value: `${bytes(ten.bytesPerSession)} (hash ${bytes(ten.hashBytes)} + index ${bytes(ten.indexBytes)}/10)`,
      },
      { label: `connect-redis, passport.user = user object (${label})`, value: `${bytes(object.bytesPerSession)} (${object.valueLength}-byte JSON)` },
      { label: `connect-redis, passport.user = id (${label})`, value: `${bytes(id.bytesPerSession)}` },
      {
        label: `ratio keycard / connect-redis user object (${label})`,
        value: `${(one.bytesPerSession / object.bytesPerSession).toFixed(2)}× (1 session), ${(ten.bytesPerSession / object.bytesPerSession).toFixed(2)}× (10 sessions)`,
      },
      {
        label: `used_memory growth per session (${label})`,
        value: m.bulk.map((b) => `${b.layout}: ${bytes(b.bytesPerSession)}`).join('; '),
      },
    );
  }
  return out;
}

function problemsOf(measured: readonly ConfigMeasurement[]): string[] {
  const problems: string[] = [];
  for (const m of measured) {
    for (const layout of m.keycard) {
      if (!(layout.hashBytes > 0) || !(layout.indexBytes > 0)) problems.push(`${m.config}: keycard ${layout.sessionsPerUser}-session layout measured 0 bytes`);
    }
    for (const layout of m.connect) if (!(layout.bytesPerSession > 0)) problems.push(`${m.config}: connect-redis ${layout.variant} measured 0 bytes`);
    if (m.config === 'raised-listpack') {
      for (const layout of m.keycard) {
        if (layout.hashEncoding !== 'listpack') {
          problems.push(`hash-max-listpack-value ${m.hashMaxListpackValue} left the hash a ${layout.hashEncoding} (longest value ${layout.longestValue} B)`);
        }
      }
    }
  }
  return problems;
}

export const footprint: Experiment = {
  name: 'footprint',
  title: 'Bytes per session in Redis: keycard (hash + per-user index) against connect-redis',
  async run(scale: Scale): Promise<ExperimentResult> {
    const bulkSessions = scale === 'full' ? 20_000 : 1_000;
    const measured = [await measureConfig('default', bulkSessions), await measureConfig('raised-listpack', bulkSessions)];
    const data: FootprintData = { redisVersion: await PrivateRedis.version(), userAgent: CHROME_USER_AGENT, ip: CLIENT_IP, configs: measured };
    return result(figuresOf(measured), problemsOf(measured), data);
  },
};
