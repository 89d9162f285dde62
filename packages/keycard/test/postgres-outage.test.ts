import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import { after, afterEach, beforeEach, describe, it } from 'node:test';
import pg from 'pg';
import { SessionManager, StoreUnavailableError, type Principal, type ResponseHeaders } from '../src/index.js';
import { PostgresStore, pgPoolClient, type SqlClient } from '../src/postgres/index.js';
import { sampleRecord } from '../src/testing/index.js';
import { DATABASE_URL, postgresSkip } from './support/services.js';

const TABLE = 'kc_pgoutage_sessions';
const SECRET = 'o'.repeat(32);
const STORE_TIMEOUT = 200;
const MARGIN = 800;
const alice: Principal = { id: 'alice-outage', roles: ['user'], authVersion: 1 };

const skip = await postgresSkip();
const upstream = new URL(DATABASE_URL);
let direct: pg.Pool | undefined;
if (!skip) {
  direct = new pg.Pool({ connectionString: DATABASE_URL, max: 3 });
  await direct.query(`DROP TABLE IF EXISTS ${TABLE}`);
  await new PostgresStore({ client: pgPoolClient(direct), table: TABLE, sweepInterval: 0 }).migrate();
}
after(async () => {
  await direct?.query(`DROP TABLE IF EXISTS ${TABLE}`);
  await direct?.end();
});

type Mode = 'forward' | 'refuse' | 'blackhole';

/**
 * A TCP proxy in front of the shared PostgreSQL: the test takes "the database"
 * away from its own pool only (refusing, or accepting and never answering)
 * and gives it back, without touching the server others use.
 */
class Proxy {
  mode: Mode = 'forward';
  private readonly sockets = new Set<Socket>();
  private readonly server: Server = createServer((socket) => this.accept(socket));

  async listen(): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return (this.server.address() as AddressInfo).port;
  }

  /** Drops every open connection, as a server restart or a network cut would. */
  cut(): void {
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(socket: Socket): void {
    socket.on('error', () => undefined);
    if (this.mode === 'refuse') {
      socket.destroy();
      return;
    }
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    if (this.mode === 'blackhole') return;
    const server = connect(Number(upstream.port || 5432), upstream.hostname);
    server.on('error', () => socket.destroy());
    socket.on('close', () => server.destroy());
    server.on('close', () => socket.destroy());
    this.sockets.add(server);
    server.on('close', () => this.sockets.delete(server));
    socket.pipe(server).pipe(socket);
  }
}

/** Wraps a client so the test can wait until every query it started has settled. */
function tracked(inner: SqlClient): { client: SqlClient; settled: () => Promise<void> } {
  const pending = new Set<Promise<unknown>>();
  const client: SqlClient = {
    query(text, params) {
      const result = inner.query(text, params);
      const done = result.then(
        () => undefined,
        () => undefined,
      );
      pending.add(done);
      void done.then(() => pending.delete(done));
      return result;
    },
    ...(inner.listen ? { listen: inner.listen.bind(inner) } : {}),
  };
  return { client, settled: async () => void (await Promise.all(pending)) };
}

/** A promise settled from outside, rejected after `ms`: a deadline, not a sleep. */
function deferred<T>(ms: number, what: string): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve: (value: T) => void = () => undefined;
  const promise = new Promise<T>((settle, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms);
    resolve = (value) => {
      clearTimeout(timer);
      settle(value);
    };
  });
  return { promise, resolve };
}

/** Resolves once the pool has dropped every connection (the proxy cut them), within a deadline. */
async function drained(pool: pg.Pool): Promise<void> {
  const deadline = Date.now() + 3000;
  while (pool.totalCount > 0) {
    if (Date.now() > deadline) throw new Error(`pool still holds ${pool.totalCount} connections`);
    await once(pool, 'remove', { signal: AbortSignal.timeout(3000) });
  }
}

function cookieFrom(headers: ResponseHeaders): string {
  const setCookie = headers.find(([name]) => name === 'Set-Cookie')?.[1];
  assert.ok(setCookie, 'expected a Set-Cookie header');
  return setCookie.split(';')[0] as string;
}

describe('PostgresStore when PostgreSQL is unreachable', { skip }, () => {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  let proxy: Proxy;
  let pool: pg.Pool;

  beforeEach(async () => {
    unhandled.length = 0;
    process.on('unhandledRejection', onUnhandled);
    proxy = new Proxy();
    const port = await proxy.listen();
    const url = new URL(DATABASE_URL);
    url.port = String(port);
    // No pool 'error' listener on purpose: the adapter must keep an idle connection's death from crashing us.
    pool = new pg.Pool({ connectionString: url.href, max: 4, connectionTimeoutMillis: 5000 });
  });

  afterEach(async () => {
    await proxy.close();
    await pool.end();
    // One macrotask turn, so that a rejection left unhandled by the test is reported before we look.
    await new Promise((resolve) => setImmediate(resolve));
    process.off('unhandledRejection', onUnhandled);
    assert.deepEqual(unhandled, []);
  });

  it('find — with nothing listening on the port rejects promptly with StoreUnavailableError', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const url = new URL(DATABASE_URL);
    url.port = String(port);
    const deadPool = new pg.Pool({ connectionString: url.href });
    try {
      const store = new PostgresStore({ client: pgPoolClient(deadPool), table: TABLE, sweepInterval: 0 });
      const started = performance.now();
      const error = await store.find(sampleRecord().id, Date.now(), Infinity).then(
        () => assert.fail('expected a rejection'),
        (e: unknown) => e,
      );
      assert.ok(error instanceof StoreUnavailableError);
      assert.equal(error.code, 'KEYCARD_STORE_UNAVAILABLE');
      assert.match(String((error.cause as Error).message), /ECONNREFUSED/);
      assert.ok(performance.now() - started < 1000);
      await assert.rejects(store.ping(), StoreUnavailableError);
      await assert.rejects(store.onRevoked(() => undefined), StoreUnavailableError);
    } finally {
      await deadPool.end();
    }
  });

  it('find — on an ended pool rejects with StoreUnavailableError', async () => {
    const endedPool = new pg.Pool({ connectionString: DATABASE_URL });
    await endedPool.end();
    const store = new PostgresStore({ client: pgPoolClient(endedPool), table: TABLE, sweepInterval: 0 });
    await assert.rejects(store.find(sampleRecord().id, Date.now(), Infinity), StoreUnavailableError);
    await assert.rejects(store.create(sampleRecord()), StoreUnavailableError);
  });

  it('load — a server that accepts but never answers gives an unavailable session within storeTimeout', async () => {
    const { client, settled } = tracked(pgPoolClient(pool));
    const store = new PostgresStore({ client, table: TABLE, sweepInterval: 0 });
    const manager = new SessionManager({ secrets: SECRET, store, storeTimeout: STORE_TIMEOUT });
    const signIn = await manager.load({ secure: false });
    await signIn.signIn(alice);
    const cookie = cookieFrom(await manager.commit(signIn));

    proxy.mode = 'blackhole';
    proxy.cut();
    await drained(pool);
    const started = performance.now();
    const session = await manager.load({ secure: false, cookieHeader: cookie });
    const elapsed = performance.now() - started;
    // At least the timeout: the query really hung and the deadline, not an error, ended the wait.
    assert.ok(elapsed >= STORE_TIMEOUT - 5 && elapsed < STORE_TIMEOUT + MARGIN, `load took ${elapsed.toFixed(0)} ms`);
    assert.equal(session.available, false);
    assert.throws(() => session.principal, StoreUnavailableError);

    // Let the hung query fail for real, then check (in afterEach) that nobody left its rejection unhandled.
    proxy.cut();
    await settled();
  });

  it('load — service returns by itself when the database does', async () => {
    const store = new PostgresStore({ client: pgPoolClient(pool), table: TABLE, sweepInterval: 0 });
    const manager = new SessionManager({ secrets: SECRET, store, storeTimeout: STORE_TIMEOUT });
    const signIn = await manager.load({ secure: false });
    await signIn.signIn(alice);
    const cookie = cookieFrom(await manager.commit(signIn));

    proxy.mode = 'refuse';
    proxy.cut();
    const down = await manager.load({ secure: false, cookieHeader: cookie });
    assert.equal(down.available, false);
    await assert.rejects(store.ping(), StoreUnavailableError);

    proxy.mode = 'forward';
    const back = await manager.load({ secure: false, cookieHeader: cookie });
    assert.equal(back.available, true);
    assert.equal(back.principal?.id, alice.id);
  });

  it('onRevoked — LISTEN is re-established after its connection is cut', async () => {
    const reconnected = deferred<void>(5000, 'reconnect');
    const reconnectFailed = deferred<void>(5000, 'a failed reconnection attempt');
    const errors: unknown[] = [];
    const client = pgPoolClient(pool, {
      retryDelay: 20,
      maxRetryDelay: 200,
      onReconnect: () => reconnected.resolve(),
      // The first error is the lost connection; the second, a reconnection the proxy refused.
      onError: (error) => errors.push(error) >= 2 && reconnectFailed.resolve(),
    });
    const listening = new PostgresStore({ client, table: TABLE, sweepInterval: 0 });
    const publisher = new PostgresStore({ client: pgPoolClient(direct!), table: TABLE, sweepInterval: 0 });
    const heard = deferred<readonly string[]>(3000, 'revocation');
    const stop = await listening.onRevoked(heard.resolve);
    try {
      proxy.mode = 'refuse';
      proxy.cut();
      await reconnectFailed.promise;
      proxy.mode = 'forward';
      await reconnected.promise;
      const record = sampleRecord();
      await publisher.create(record);
      await publisher.destroy(record.id);
      assert.deepEqual(await heard.promise, [record.handle]);
    } finally {
      await stop();
      await listening.close();
    }
  });
});
