/**
 * The store behind each keycard variant, built the way the library's docs
 * recommend, with a `close` that releases what the bench opened.
 */
import { MemoryStore, type SessionStore } from 'keycard';
import { pgliteClient, pgPoolClient, postgresJsClient, PostgresStore } from 'keycard/postgres';
import { RedisRevocationStore, RedisStore } from 'keycard/redis';
import type { SessionModuleOptions } from 'keycard/nest';
import type { ServerConfig } from './protocol.js';

export interface OpenedStore {
  readonly store: SessionStore;
  close(): Promise<void>;
}

/** What SessionModule gets for a variant: a store, or sealed cookies (with a Redis revocation store for 12b). */
export interface OpenedSessions {
  readonly options: Pick<SessionModuleOptions, 'store' | 'sealed'>;
  close(): Promise<void>;
}

export async function openSessions(config: ServerConfig): Promise<OpenedSessions> {
  if (config.sealed === 'cookie') return { options: { sealed: {} }, close: async () => {} };
  if (config.sealed === 'redis-revocation') {
    const client = await connectRedis(config);
    return {
      options: { sealed: { revocation: new RedisRevocationStore(client, { prefix: `${config.namespace}:` }) } },
      close: async () => client.disconnect(),
    };
  }
  const opened = await openStore(config);
  return { options: { store: opened.store }, close: () => opened.close() };
}

export async function openStore(config: ServerConfig): Promise<OpenedStore> {
  switch (config.store) {
    case 'memory':
      return { store: new MemoryStore(), close: async () => {} };
    case 'redis':
      return openRedis(config);
    case 'pglite':
      return openPglite(config);
    case 'postgres':
      return openPostgres(config);
    case 'none':
      throw new Error('keycard variants need a store');
  }
}

async function openRedis(config: ServerConfig): Promise<OpenedStore> {
  const client = await connectRedis(config);
  const store = new RedisStore(client, { prefix: `${config.namespace}:` });
  return {
    store,
    close: async () => {
      await store.close();
      client.disconnect();
    },
  };
}

async function connectRedis(config: ServerConfig) {
  if (config.redisUrl === undefined) throw new Error('the keycard Redis variants need redisUrl');
  const { Redis } = await import('ioredis');
  // The client options RedisStore's documentation recommends for sessions.
  const client = new Redis(config.redisUrl, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    connectTimeout: 1000,
    commandTimeout: 1000,
    retryStrategy: (attempt) => Math.min(attempt * 100, 500),
    lazyConnect: true,
  });
  await client.connect();
  return client;
}

async function openPglite(config: ServerConfig): Promise<OpenedStore> {
  const { PGlite } = await import('@electric-sql/pglite');
  // In memory: the variant measures the store's queries, not a disk.
  const db = await PGlite.create();
  const store = new PostgresStore({ client: pgliteClient(db), table: config.namespace });
  await store.migrate();
  return {
    store,
    close: async () => {
      await store.close();
      await db.close();
    },
  };
}

async function openPostgres(config: ServerConfig): Promise<OpenedStore> {
  if (config.databaseUrl === undefined) throw new Error('the keycard PostgreSQL variant needs databaseUrl');
  if (config.driver === 'postgres') return openPostgresJs(config.databaseUrl, config.namespace);
  const { default: pg } = await import('pg');
  const pool = new pg.Pool({ connectionString: config.databaseUrl, max: 10 });
  const store = new PostgresStore({ client: pgPoolClient(pool), table: config.namespace });
  await store.migrate();
  return {
    store,
    close: async () => {
      await store.close();
      await pool.end();
    },
  };
}

/** The same store on the `postgres` driver, pool of 10 like pg's: the driver comparison (variant 9c). */
async function openPostgresJs(databaseUrl: string, table: string): Promise<OpenedStore> {
  const { default: postgres } = await import('postgres');
  const sql = postgres(databaseUrl, { max: 10, onnotice: () => undefined, fetch_types: false });
  const store = new PostgresStore({ client: postgresJsClient(sql), table });
  await store.migrate();
  return {
    store,
    close: async () => {
      await store.close();
      await sql.end({ timeout: 1 });
    },
  };
}
