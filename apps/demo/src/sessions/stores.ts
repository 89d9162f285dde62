import { Cluster, Redis } from 'ioredis';
import type { RateLimitStore, SessionStore } from 'keycard';
import { PostgresRateLimitStore, PostgresStore, pgliteClient, pgPoolClient } from 'keycard/postgres';
import { RedisRateLimitStore, RedisStore } from 'keycard/redis';
import type { RedisTarget } from '../config/config.js';
import { pgliteDirectory, type Database, type DatabaseSettings } from '../database/database.js';

/** Where sessions and sign-in counters live, and how to let go of them. */
export interface Stores {
  readonly sessions: SessionStore;
  readonly rateLimits: RateLimitStore;
  /** For the start-up log: "redis://…", "PostgreSQL", "PGlite". */
  readonly description: string;
  close(): Promise<void>;
}

/**
 * Redis when configured, else the app's own database: the embedded default
 * keeps sessions on disk, so they survive a restart.
 */
export async function openStores(redis: RedisTarget | undefined, database: Database): Promise<Stores> {
  return redis ? openRedisStores(redis) : openSqlStores(database);
}

async function openSqlStores(database: Database): Promise<Stores> {
  const client = database.kind === 'pglite' ? pgliteClient(database.client) : pgPoolClient(database.client);
  const sessions = new PostgresStore({ client });
  const rateLimits = new PostgresRateLimitStore({ client });
  await sessions.migrate();
  await rateLimits.migrate();
  return {
    sessions,
    rateLimits,
    description: database.kind === 'pglite' ? 'PGlite (embedded)' : 'PostgreSQL',
    async close() {
      await sessions.close();
      await rateLimits.close();
    },
  };
}

/**
 * Client settings from keycard/redis' advice: during an outage commands fail
 * at once (503) instead of queueing, and the client keeps reconnecting so
 * service comes back by itself.
 */
const FAIL_FAST = { maxRetriesPerRequest: 0, connectTimeout: 1000, commandTimeout: 1000 } as const;
const retry = (attempt: number) => Math.min(attempt * 100, 500);

async function openRedisStores(target: RedisTarget): Promise<Stores> {
  const client =
    target.kind === 'standalone'
      ? new Redis(target.url, { ...FAIL_FAST, enableOfflineQueue: false, retryStrategy: retry, lazyConnect: true })
      : target.kind === 'sentinel'
        ? new Redis({
            sentinels: target.sentinels.map((node) => ({ host: node.host, port: node.port })),
            name: target.name,
            ...FAIL_FAST,
            enableOfflineQueue: false,
            retryStrategy: retry,
            lazyConnect: true,
          })
        : new Cluster(
          target.nodes.map((node) => ({ host: node.host, port: node.port })),
          { enableOfflineQueue: false, clusterRetryStrategy: retry, redisOptions: FAIL_FAST, lazyConnect: true },
        );
  // Errors surface as 503s on requests; without a listener ioredis would print every reconnect attempt.
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (error) {
    client.disconnect();
    throw new Error(`cannot connect to Redis (${describe(target)}): ${(error as Error).message}`, { cause: error });
  }
  const sessions = new RedisStore(client);
  const rateLimits = new RedisRateLimitStore(client);
  return {
    sessions,
    rateLimits,
    description: `Redis (${describe(target)})`,
    async close() {
      await sessions.close();
      await rateLimits.close();
      await client.quit().catch(() => client.disconnect());
    },
  };
}

/**
 * The session store `openStores` opens, as a keycard CLI store URL
 * (`keycard/cli` openStoreFromUrl): the operator's `npm run admin --
 * sessions|revoke` reaches the very store the app uses. Both sides keep
 * keycard's default Redis prefix and SQL table.
 */
export function sessionStoreUrl(redis: RedisTarget | undefined, database: DatabaseSettings): string {
  if (redis?.kind === 'standalone') return redis.url;
  if (redis?.kind === 'cluster') return `redis+cluster://${redis.nodes.map((node) => `${node.host}:${node.port}`).join(',')}`;
  if (redis?.kind === 'sentinel') return `redis+sentinel://${redis.sentinels.map((node) => `${node.host}:${node.port}`).join(',')}/${redis.name}`;
  return database.databaseUrl ?? `pglite:${pgliteDirectory(database.dataDir)}`;
}

/** Host and port only: a URL may carry a password. */
function describe(target: RedisTarget): string {
  if (target.kind === 'cluster') return `cluster ${target.nodes.map((node) => `${node.host}:${node.port}`).join(',')}`;
  if (target.kind === 'sentinel') return `sentinel ${target.name} via ${target.sentinels.map((node) => `${node.host}:${node.port}`).join(',')}`;
  const url = new URL(target.url);
  return `${url.hostname}:${url.port || '6379'}`;
}
