/**
 * What the runner and a variant server say to each other. Each variant runs in
 * its own process so that its CPU time can be read apart from the load
 * generator's and the runner's; the runner forks it with an IPC channel.
 */

export type Platform = 'express' | 'fastify';
export type StoreKind = 'none' | 'redis' | 'memory' | 'pglite' | 'postgres';

/** Given to the server at fork time, as JSON in `SERVER_CONFIG_ENV`. */
export interface ServerConfig {
  readonly platform: Platform;
  readonly store: StoreKind;
  /** `redis://127.0.0.1:<port>` of the runner's private redis-server. */
  readonly redisUrl?: string;
  readonly databaseUrl?: string;
  /** Key prefix (Redis) or table name stem (SQL), so variants never share data. */
  readonly namespace: string;
  /** express-session stack: add passport.session() on top. */
  readonly passport?: boolean;
  /** @fastify/session: the `rolling` option; undefined keeps the plugin default. */
  readonly rolling?: boolean;
  /** keycard on PostgreSQL: which driver carries the queries (default `pg`). */
  readonly driver?: 'pg' | 'postgres';
  /** keycard sealed-cookie sessions: no store ('cookie'), or with a Redis revocation store ('redis-revocation'). */
  readonly sealed?: 'cookie' | 'redis-revocation';
  /** keycard: `false` turns the session cache off, so every read is a store round trip (the miss path). */
  readonly cache?: false;
}

export const SERVER_CONFIG_ENV = 'KEYCARD_BENCH_SERVER';

export type ToServer = { readonly type: 'cpu' } | { readonly type: 'stop' };

export type FromServer =
  | { readonly type: 'ready'; readonly port: number }
  /** process.cpuUsage(), microseconds since the process started. */
  | { readonly type: 'cpu'; readonly user: number; readonly system: number }
  | { readonly type: 'error'; readonly message: string };
