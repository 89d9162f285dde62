/**
 * A process of its own for postgres-js-array-types.test.ts: a PostgresStore
 * on the `postgres` driver (`fetch_types` from argv[2]) behind a proxy that
 * cuts a reconnection at its first statement and then refuses connections,
 * as a database that dies while a connection starts. It runs with Node's
 * default `--unhandled-rejections=throw`, as an app does: a rejection nobody
 * holds ends it with a non-zero code; otherwise it prints `recovered` once the
 * store answers again and exits 0.
 */
import { PostgresStore } from '../../src/postgres/index.js';
import { samplePrincipal, sampleRecord } from '../../src/testing/index.js';
import { openPool } from './pg-drivers.js';
import { within } from './poll.js';
import { DATABASE_URL } from './services.js';
import { TcpProxy } from './tcp-proxy.js';

const fetchTypes = process.argv[2] === 'true';
const upstream = new URL(DATABASE_URL);
const proxy = new TcpProxy(upstream.hostname, Number(upstream.port || 5432));
const url = new URL(DATABASE_URL);
url.port = String(await proxy.listen());
const pool = openPool('postgres', url.toString(), { max: 1, connectTimeoutMs: 1000, fetchTypes });
const store = new PostgresStore({ client: pool.client, table: process.argv[3] ?? 'kc_pgjs_cut_sessions', sweepInterval: 0 });
await store.migrate();
const record = sampleRecord({ principal: samplePrincipal() });
await store.create(record);
// Every statement the store sends that carries a list (update's unset keys) works without array types.
if (!(await store.update(record.id, { set: { theme: 'dark' }, unset: ['missing'] }))) throw new Error('update failed');
proxy.cutWhen = (_chunk, index) => index >= 1;
proxy.cut();
// Reads until a reconnection got as far as its first statement (the cut fires there), each failing meanwhile.
let failed = 0;
await within(10_000, async () => {
  await store.find(record.id, Date.now(), Infinity).catch(() => failed++);
  return proxy.cutWhen === null;
}, 'a reconnection reached its first statement');
console.log(`cut: ${failed} read(s) failed during the cut`);
proxy.mode = 'forward';
await within(10_000, async () => (await store.find(record.id, Date.now(), Infinity).catch(() => null))?.data['theme'] === 'dark', 'the store answers again');
console.log('recovered');
await store.destroy(record.id);
await store.close();
await pool.end();
await proxy.close();
