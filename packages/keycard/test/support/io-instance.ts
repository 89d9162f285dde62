/**
 * A second instance in its own process for the socket.io cross-instance
 * test: the session routes and the socket.io gateway on a RedisStore.
 * argv: <platform> <redis url> <key prefix>. Prints `{"url": ...}` once it
 * listens; ends when its stdin closes. Never run by the test runner.
 */
import 'reflect-metadata';
import { Redis } from 'ioredis';
import { RedisStore } from '../../src/redis/index.js';
import { startApp, type Platform } from './http.js';
import { ioApp, useKeycardIo } from './io-app.js';

const [platform, redisUrl, prefix] = process.argv.slice(2) as [Platform, string, string];
const client = new Redis(redisUrl);
client.on('error', () => undefined);
const store = new RedisStore(client, { prefix });
const running = await startApp(platform, ioApp({ store }), { configure: useKeycardIo() });
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
