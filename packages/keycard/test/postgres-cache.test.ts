import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { InvalidOptionsError, SessionManager, type Principal, type Session } from '../src/index.js';
import { PostgresStore, pgPoolClient } from '../src/postgres/index.js';
import { PG_DRIVERS, openPool, type DriverPool, type PgDriver } from './support/pg-drivers.js';
import { DATABASE_URL, postgresSkip } from './support/services.js';
import { TcpProxy } from './support/tcp-proxy.js';

/**
 * The session cache on a PostgreSQL server (`after-commit`: NOTIFY in the
 * writing statement, LISTEN on a dedicated connection), with two
 * "instances": two managers, each with its own pg Pool, store and LISTEN
 * connection, as two processes have. Delivery comes after the commit, so
 * these tests poll with a deadline for B to learn what A did (the window
 * itself is measured by bench/src/reliability/pg-notify-window.ts); what they
 * show is that B's cached copy is invalidated at all, that a lost LISTEN
 * flushes and bypasses, and that the feed comes back. Every test runs on both
 * drivers (`pg` and `postgres`).
 */
const skip = await postgresSkip();
const TABLE = `kc_cache_${process.pid}`;
const SECRET = 'p'.repeat(32);
const alice: Principal = { id: 'alice-pgcache', roles: ['user'], authVersion: 1 };
const pools: DriverPool[] = [];
const upstream = new URL(DATABASE_URL);
const STORE_TIMEOUT = 300;
/** The feed's lag bound (500 ms) after the last heartbeat (every 100 ms), on a loaded 2-core machine. */
const BYPASS_BOUND = 1500;
/** The drivers' reconnection backoff after a few refused attempts (postgres: up to ~2.4 s after 1 s of refusals). */
const RECOVERY_BOUND = 15_000;
const stores: PostgresStore[] = [];
let direct: pg.Pool | undefined;

before(async () => {
  if (skip) return;
  direct = new pg.Pool({ connectionString: DATABASE_URL, max: 2 });
  await direct.query(`DROP TABLE IF EXISTS ${TABLE}`);
  await new PostgresStore({ client: pgPoolClient(direct), table: TABLE, sweepInterval: 0 }).migrate();
});

after(async () => {
  for (const store of stores) await store.close();
  for (const pool of pools) await pool.end();
  await direct?.query(`DROP TABLE IF EXISTS ${TABLE}`);
  await direct?.end();
});

async function eventually(check: () => boolean | Promise<boolean>, what: string, ms = 5000): Promise<void> {
  const deadline = performance.now() + ms;
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

interface Instance {
  readonly manager: SessionManager;
  readonly store: PostgresStore;
  readonly name: string;
}

let instances = 0;
async function instance(
  driver: PgDriver,
  cache: boolean | { acceptDelayedInvalidation: boolean } = { acceptDelayedInvalidation: true },
  { url = DATABASE_URL, storeTimeout }: { readonly url?: string; readonly storeTimeout?: number } = {},
): Promise<Instance> {
  const name = `kc-cache-${process.pid}-${++instances}`;
  const pool = openPool(driver, url, { max: 4, applicationName: name, retryDelay: 50, connectTimeoutMs: 1000 });
  pools.push(pool);
  const store = new PostgresStore({ client: pool.client, table: TABLE, sweepInterval: 0 });
  stores.push(store);
  const manager = new SessionManager({
    secrets: SECRET,
    store,
    ...(cache === true ? {} : { cache }),
    ...(storeTimeout === undefined ? {} : { storeTimeout }),
  });
  if (manager.cacheStats() !== null) await eventually(() => serving(manager), 'the LISTEN feed is in effect');
  return { manager, store, name };
}

const serving = (manager: SessionManager): boolean => (manager.store as { serving?: boolean }).serving === true;

async function signIn(manager: SessionManager, principal: Principal = alice): Promise<string> {
  const session = await manager.load({ secure: false });
  await session.signIn(principal);
  return cookieOf(await manager.commit(session));
}

function cookieOf(headers: readonly (readonly [string, string])[]): string {
  const setCookie = headers.find(([name]) => name === 'Set-Cookie')?.[1];
  assert.ok(setCookie, 'a Set-Cookie header');
  return setCookie.split(';')[0] as string;
}

const read = (manager: SessionManager, cookie: string) => manager.load({ secure: false, cookieHeader: cookie });

/** B serves `cookie` from its cache (a hit), so that only an invalidation can make it see a change. */
async function cachedOn(b: Instance, cookie: string): Promise<void> {
  await read(b.manager, cookie);
  const hits = b.manager.cacheStats()?.hits ?? 0;
  assert.equal((await read(b.manager, cookie)).principal?.id !== undefined, true);
  assert.equal(b.manager.cacheStats()?.hits, hits + 1, 'B answers from its cache');
}

for (const driver of PG_DRIVERS) {
  describe(`session cache on PostgreSQL (NOTIFY/LISTEN), ${driver} driver`, { skip }, () => {
    it('is off by default, on with acceptDelayedInvalidation, refused when asked for without it', async () => {
      assert.equal((await instance(driver, true)).manager.cacheStats(), null);
      await assert.rejects(
        instance(driver, { acceptDelayedInvalidation: false }),
        (error: unknown) => error instanceof InvalidOptionsError && /acceptDelayedInvalidation: true/.test(error.message),
        'asking for the cache without accepting the delay is refused, not silently ignored',
      );
      assert.notEqual((await instance(driver)).manager.cacheStats(), null);
    });

    it('sign-out on A — B’s cached copy is invalidated by the NOTIFY of the deleting statement', async () => {
      const [a, b] = [await instance(driver), await instance(driver)];
      const cookie = await signIn(a.manager, { ...alice, id: 'pg-signout' });
      await cachedOn(b, cookie);
      await (await read(a.manager, cookie)).signOut();
      await eventually(async () => (await read(b.manager, cookie)).principal === null, 'B refuses the signed-out cookie');
    });

    it('revokeAll on A — every cached copy of that user on B is invalidated', async () => {
      const [a, b] = [await instance(driver), await instance(driver)];
      const user: Principal = { id: 'pg-revoke', roles: ['user'], authVersion: 1 };
      const first = await signIn(a.manager, user);
      const second = await signIn(a.manager, user);
      await cachedOn(b, first);
      await cachedOn(b, second);
      await a.manager.revokeAll(user.id);
      await eventually(async () => (await read(b.manager, first)).principal === null && (await read(b.manager, second)).principal === null, 'B refuses both');
    });

    it('role change (refreshPrincipal) on A — B reads the new roles; the rotation on B kills the old id on A', async () => {
      const [a, b] = [await instance(driver), await instance(driver)];
      const user: Principal = { id: 'pg-roles', roles: ['user'], authVersion: 1 };
      const cookie = await signIn(a.manager, user);
      await cachedOn(b, cookie);
      await cachedOn(a, cookie);
      await a.manager.refreshPrincipal({ ...user, roles: ['admin'] });
      // The first read that sees the change also rotates the session (its old id then reads as signed out).
      let refreshed: Session | undefined;
      await eventually(async () => {
        const session = await read(b.manager, cookie);
        if (session.principal?.roles[0] === 'admin') refreshed = session;
        return refreshed !== undefined;
      }, 'B sees the new roles');
      // The refreshed session is rotated at its next use (here, on B): the old id is gone on A too.
      const next = cookieOf(await b.manager.commit(refreshed as Session));
      assert.notEqual(next, cookie);
      await cachedOn(a, next);
      await eventually(async () => (await read(a.manager, cookie)).principal === null, 'A refuses the rotated-away id');
    });

    it('explicit rotation and a data write on A — B drops its copy of each', async () => {
      const [a, b] = [await instance(driver), await instance(driver)];
      const cookie = await signIn(a.manager, { ...alice, id: 'pg-rotate' });
      await cachedOn(b, cookie);
      const writer = await read(a.manager, cookie);
      writer.set('theme', 'dark');
      await a.manager.commit(writer);
      await eventually(async () => (await read(b.manager, cookie)).get('theme') === 'dark', 'B sees the data write');
      await cachedOn(b, cookie);
      const rotating = await read(a.manager, cookie);
      await rotating.rotate();
      const next = cookieOf(await a.manager.commit(rotating));
      await eventually(async () => (await read(b.manager, cookie)).principal === null, 'B refuses the rotated-away id');
      assert.equal((await read(b.manager, next)).principal?.id, 'pg-rotate');
    });

    it('LISTEN connection terminated (pg_terminate_backend) — B flushes, bypasses until LISTEN is back, then serves and invalidates again', async () => {
      const [a, b] = [await instance(driver), await instance(driver)];
      const cookie = await signIn(a.manager, { ...alice, id: 'pg-listen-lost' });
      await cachedOn(b, cookie);
      const flushes = b.manager.cacheStats()?.flushes ?? 0;
      const killed = await (direct as pg.Pool).query(
        `SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE application_name = $1 AND query ILIKE 'LISTEN %_inv"'`,
        [b.name],
      );
      assert.equal(killed.rows.length, 1, 'B’s cache feed had one LISTEN connection');
      await eventually(() => (b.manager.cacheStats()?.flushes ?? 0) > flushes, 'B notices the loss and flushes');
      assert.equal(b.manager.cacheStats()?.entries, 0);
      const hits = b.manager.cacheStats()?.hits ?? 0;
      assert.equal((await read(b.manager, cookie)).principal?.id, 'pg-listen-lost', 'asked of PostgreSQL');
      assert.equal(b.manager.cacheStats()?.hits, hits, 'nothing served from memory after the loss');
      await eventually(() => serving(b.manager), 'LISTEN is re-established');
      await cachedOn(b, cookie);
      await (await read(a.manager, cookie)).signOut();
      await eventually(async () => (await read(b.manager, cookie)).principal === null, 'the new LISTEN delivers');
    });

    it('every connection of B terminated (pg_terminate_backend, pool and LISTEN) — B flushes, reads PostgreSQL again by itself, and hears the next sign-out', async () => {
      const [a, b] = [await instance(driver), await instance(driver)];
      const cookie = await signIn(a.manager, { ...alice, id: `pg-all-killed-${driver}` });
      await cachedOn(b, cookie);
      const flushes = b.manager.cacheStats()?.flushes ?? 0;
      const killed = await (direct as pg.Pool).query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1', [b.name]);
      assert.ok(killed.rows.length >= 2, `B had its pool and LISTEN connections (${killed.rows.length})`);
      await eventually(() => (b.manager.cacheStats()?.flushes ?? 0) > flushes, 'B notices the loss and flushes');
      // Reads recover by themselves: a read on a killed connection may fail once, the next connects again.
      await eventually(async () => (await read(b.manager, cookie)).available, 'B reads PostgreSQL again');
      assert.equal((await read(b.manager, cookie)).principal?.id, `pg-all-killed-${driver}`);
      await eventually(() => serving(b.manager), 'B serves from its cache again');
      await cachedOn(b, cookie);
      await (await read(a.manager, cookie)).signOut();
      await eventually(async () => (await read(b.manager, cookie)).principal === null, 'the new LISTEN delivers');
    });

    it('a late feed (the event loop stalled past the lag bound) sends reads to PostgreSQL', async () => {
      const [a, b] = [await instance(driver), await instance(driver)];
      const cookie = await signIn(a.manager, { ...alice, id: 'pg-late' });
      await cachedOn(b, cookie);
      const hits = b.manager.cacheStats()?.hits ?? 0;
      const until = performance.now() + 700;
      while (performance.now() < until) {
        // A synchronous stall longer than the 500 ms lag bound: no heartbeat heard meanwhile.
      }
      assert.equal((await read(b.manager, cookie)).principal?.id, 'pg-late');
      assert.equal(b.manager.cacheStats()?.hits, hits, 'not served from the cache');
      await eventually(() => serving(b.manager), 'current again after a heartbeat');
    });

    it('PostgreSQL unreachable for B (every connection cut, LISTEN included; reconnections refused) — B bypasses its cache and answers unavailable fast; a sign-out on A meanwhile is not undone; B comes back by itself', async () => {
      const proxy = new TcpProxy(upstream.hostname, Number(upstream.port || 5432));
      const proxied = new URL(DATABASE_URL);
      proxied.port = String(await proxy.listen());
      try {
        const a = await instance(driver);
        const b = await instance(driver, undefined, { url: proxied.href, storeTimeout: STORE_TIMEOUT });
        const cookie = await signIn(a.manager, { ...alice, id: `pg-outage-${driver}` });
        await cachedOn(b, cookie);

        const cutAt = performance.now();
        proxy.mode = 'refuse';
        proxy.cut();
        // pg reports the loss when its LISTEN connection ends; postgres says nothing, and the heartbeat's lag bound decides.
        await eventually(() => !serving(b.manager), 'B stops serving from its cache', BYPASS_BOUND);
        console.log(`[${driver}] proxy cut → B's cache bypassed after ${(performance.now() - cutAt).toFixed(0)} ms`);
        const hits = b.manager.cacheStats()?.hits ?? 0;
        const started = performance.now();
        const down = await read(b.manager, cookie);
        const took = performance.now() - started;
        assert.equal(down.available, false, 'asked of the unreachable store, not answered from memory');
        assert.ok(took < STORE_TIMEOUT + 500, `unavailable after ${took.toFixed(0)} ms`);
        assert.equal(b.manager.cacheStats()?.hits, hits);

        // A signs the session out while B cannot hear it.
        await (await read(a.manager, cookie)).signOut();

        proxy.mode = 'forward';
        const restoredAt = performance.now();
        await eventually(() => serving(b.manager), 'B’s LISTEN and cache come back', RECOVERY_BOUND);
        console.log(`[${driver}] proxy back → B serving from its cache again after ${(performance.now() - restoredAt).toFixed(0)} ms`);
        const after = await read(b.manager, cookie);
        assert.equal(after.available, true);
        assert.equal(after.principal, null, 'the sign-out made during the outage holds on B');
        const other = await signIn(a.manager, { ...alice, id: `pg-outage-${driver}-2` });
        await cachedOn(b, other);
        await (await read(a.manager, other)).signOut();
        await eventually(async () => (await read(b.manager, other)).principal === null, 'the new LISTEN delivers');
      } finally {
        await proxy.close();
      }
    });
  });
}
