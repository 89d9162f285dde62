/**
 * The session store the seed tutorials use, shared by the express-session
 * and @fastify/session variants and by the race harness' express-session
 * server: connect-redis on a node-redis client.
 */
import { RedisStore } from 'connect-redis';
import session from 'express-session';
import { createClient } from 'redis';
import type { ServerConfig } from './protocol.js';
import { BENCH_SECRET } from './user.js';

export interface ConnectRedis {
  readonly store: RedisStore;
  close(): Promise<void>;
}

/** A connected connect-redis store under `prefix`; `noRedis` is the error when the config names no Redis. */
export async function openConnectRedis(config: ServerConfig, prefix: string, noRedis: string): Promise<ConnectRedis> {
  if (config.redisUrl === undefined) throw new Error(noRedis);
  const client = createClient({ url: config.redisUrl });
  await client.connect();
  return { store: new RedisStore({ client, prefix }), close: () => client.close() };
}

/** express-session as the seed tutorials configure it: resave false, saveUninitialized false, an HttpOnly Lax cookie of 1 h. */
export function tutorialExpressSession(store: RedisStore): ReturnType<typeof session> {
  return session({
    secret: BENCH_SECRET,
    resave: false,
    saveUninitialized: false,
    store,
    cookie: { httpOnly: true, sameSite: 'lax', maxAge: 3_600_000 },
  });
}
