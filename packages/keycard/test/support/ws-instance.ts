/**
 * A second application instance in its own process, for cross-instance
 * tests: the /ws gateway and the session routes on a RedisStore, started by
 * `spawnInstance` and never run by the test runner (its name has no .test).
 *
 * argv: <platform> <redis url> <key prefix>. Prints one JSON line
 * `{"url": "http://127.0.0.1:<port>"}` once it listens, and shuts down when
 * its stdin closes (so it cannot outlive the test process).
 */
import 'reflect-metadata';
import { Redis } from 'ioredis';
import { RedisStore } from '../../src/redis/index.js';
import { startApp, type Platform } from './http.js';
import { useKeycardWs, wsApp } from './ws-app.js';

const [platform, redisUrl, prefix] = process.argv.slice(2) as [Platform, string, string];
const client = new Redis(redisUrl);
client.on('error', () => undefined);
const store = new RedisStore(client, { prefix });
const running = await startApp(platform, wsApp({ store }), { configure: useKeycardWs() });
process.stdout.write(`${JSON.stringify({ url: running.url })}\n`);

process.stdin.resume();
process.stdin.once('end', () => {
  void (async () => {
    await running.close();
    await store.close();
    client.disconnect();
    process.exit(0);
  })();
});
