/**
 * One application instance in its own process, for multi-instance tests:
 * `healthApp` (the session test routes and GET /health) on a RedisStore or a
 * PostgresStore, started by `spawnAppProcess` and never run by the test
 * runner (its name has no .test).
 *
 * argv: one JSON `AppProcessSpec`. Prints one JSON line `{"url": ...}` once
 * it listens, and shuts down when its stdin closes. An unhandled rejection or
 * uncaught exception ends it with exit code 70, so a test sees a crash as a
 * dead instance instead of a silent one.
 */
import 'reflect-metadata';
import { Redis } from 'ioredis';
import type { SessionStore } from '../../src/index.js';
import { PostgresStore } from '../../src/postgres/index.js';
import { RedisStore } from '../../src/redis/index.js';
import type { AppProcessSpec } from './app-process.js';
import { healthApp } from './health-app.js';
import { openPool } from './pg-drivers.js';
import { startApp } from './http.js';

for (const event of ['unhandledRejection', 'uncaughtException'] as const) {
  process.on(event, (reason: unknown) => {
    process.stderr.write(`app process ${process.pid}: ${event}: ${String((reason as Error)?.stack ?? reason)}\n`);
    process.exit(70);
  });
}

const spec = JSON.parse(process.argv[2] as string) as AppProcessSpec;
const storeTimeout = spec.storeTimeout ?? 1000;
let store: SessionStore;
let release: () => Promise<void>;
if (spec.store.kind === 'redis') {
  const url = new URL(spec.store.url);
  // The fast-failure options documented on RedisStoreOptions.
  const client = new Redis({
    host: url.hostname,
    port: Number(url.port || 6379),
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    connectTimeout: 1000,
    commandTimeout: storeTimeout,
    retryStrategy: (attempt) => Math.min(attempt * 100, 500),
  });
  client.on('error', () => undefined);
  await client.connect();
  store = new RedisStore(client, { prefix: spec.store.prefix });
  release = async () => {
    client.disconnect();
  };
} else {
  const pool = openPool(spec.store.driver ?? 'pg', spec.store.url, { max: 4, connectTimeoutMs: 2000 });
  store = new PostgresStore({ client: pool.client, table: spec.store.table, sweepInterval: 0 });
  release = () => pool.end();
}

const running = await startApp(spec.platform, healthApp({ store, storeTimeout }));
process.stdout.write(`${JSON.stringify({ url: running.url })}\n`);

process.stdin.resume();
process.stdin.once('end', () => {
  void (async () => {
    await running.close();
    await store.close();
    await release();
    process.exit(0);
  })();
});
