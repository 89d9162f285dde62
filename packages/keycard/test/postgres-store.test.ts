import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import pg from 'pg';
import { PostgresStore, pgPoolClient, type SqlClient } from '../src/postgres/index.js';
import { describeSessionStore, samplePrincipal, sampleRecord } from '../src/testing/index.js';
import { PG_DRIVERS, openPool, type DriverPool } from './support/pg-drivers.js';
import { DATABASE_URL, postgresSkip } from './support/services.js';
import { TcpProxy } from './support/tcp-proxy.js';

// The database is shared with other engineers' suites: this file only ever touches its own tables.
const CONFORMANCE_TABLE = 'kc_pgstore_conformance';
const OWN_TABLE = 'kc_pgstore_specific';

const skip = await postgresSkip();
let pool: pg.Pool | undefined;
let client: SqlClient | undefined;
/** The conformance suite's pool on each driver, and its table. */
const conformance = new Map<string, { readonly pool: DriverPool; readonly table: string }>();
if (!skip) {
  pool = new pg.Pool({ connectionString: DATABASE_URL, max: 6 });
  client = pgPoolClient(pool);
  await pool.query(`DROP TABLE IF EXISTS ${CONFORMANCE_TABLE}, ${CONFORMANCE_TABLE}_postgres, ${OWN_TABLE}`);
  for (const driver of PG_DRIVERS) {
    const table = driver === 'pg' ? CONFORMANCE_TABLE : `${CONFORMANCE_TABLE}_${driver}`;
    const driverPool = openPool(driver, DATABASE_URL, { max: 6 });
    conformance.set(driver, { pool: driverPool, table });
    await new PostgresStore({ client: driverPool.client, table, sweepInterval: 0 }).migrate();
  }
  await new PostgresStore({ client, table: OWN_TABLE, sweepInterval: 0 }).migrate();
}
after(async () => {
  for (const { pool: driverPool } of conformance.values()) await driverPool.end();
  await pool?.query(`DROP TABLE IF EXISTS ${CONFORMANCE_TABLE}, ${CONFORMANCE_TABLE}_postgres, ${OWN_TABLE}`);
  await pool?.end();
});

const upstream = new URL(DATABASE_URL);
const store = (table = OWN_TABLE) => new PostgresStore({ client: client as SqlClient, table, sweepInterval: 0 });

for (const driver of PG_DRIVERS) {
  describeSessionStore(
    driver === 'pg' ? 'postgres' : `postgres (${driver} driver)`,
    () => {
      const { pool: driverPool, table } = conformance.get(driver)!;
      return new PostgresStore({ client: driverPool.client, table, sweepInterval: 0 });
    },
    { skip },
  );
}

/** A promise settled from outside, rejected after `ms`: a deadline, not a sleep. */
function deferred<T>(ms: number): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve: (value: T) => void = () => undefined;
  const promise = new Promise<T>((settle, reject) => {
    const timer = setTimeout(() => reject(new Error(`nothing within ${ms} ms`)), ms);
    resolve = (value) => {
      clearTimeout(timer);
      settle(value);
    };
  });
  return { promise, resolve };
}

describe('PostgresStore on PostgreSQL', { skip }, () => {
  it('onRevoked — a store on another pool (another process) hears the revocation', async () => {
    const otherPool = new pg.Pool({ connectionString: DATABASE_URL, max: 2 });
    const other = new PostgresStore({ client: pgPoolClient(otherPool), table: OWN_TABLE, sweepInterval: 0 });
    try {
      const s = store();
      const record = sampleRecord({ principal: samplePrincipal() });
      await s.create(record);
      const heard = deferred<readonly string[]>(2000);
      const stop = await other.onRevoked(heard.resolve);
      await s.destroy(record.id);
      assert.deepEqual(await heard.promise, [record.handle]);
      await stop();
    } finally {
      await other.close();
      await otherPool.end();
    }
  });

  it('onRevoked — listeners share one LISTEN connection, and the last unsubscribe gives it back', async () => {
    const ownPool = new pg.Pool({ connectionString: DATABASE_URL, max: 2 });
    const checkedOut = () => ownPool.totalCount - ownPool.idleCount;
    const s = new PostgresStore({ client: pgPoolClient(ownPool), table: OWN_TABLE, sweepInterval: 0 });
    try {
      const stopA = await s.onRevoked(() => undefined);
      const stopB = await s.onRevoked(() => undefined);
      assert.equal(checkedOut(), 1);
      await stopA();
      assert.equal(checkedOut(), 1);
      await stopB();
      assert.equal(checkedOut(), 0);
    } finally {
      await s.close();
      await ownPool.end();
    }
  });

  it('rotate — concurrent rotations of one session: exactly one wins', async () => {
    const s = store();
    const principal = samplePrincipal();
    const record = sampleRecord({ principal });
    await s.create(record);
    const candidates = Array.from({ length: 6 }, () => sampleRecord({ principal, handle: record.handle }));
    const results = await Promise.all(candidates.map((next) => s.rotate(record.id, next)));
    assert.equal(results.filter(Boolean).length, 1);
    const winner = candidates[results.indexOf(true)]!;
    assert.deepEqual((await s.listByUser(principal.id, Date.now())).map((r) => r.id), [winner.id]);
    for (const loser of candidates.filter((c) => c !== winner)) {
      assert.equal(await s.find(loser.id, Date.now(), Infinity), null);
    }
  });

  it('update — racing a destroy never resurrects the session', async () => {
    const s = store();
    const record = sampleRecord({ principal: samplePrincipal() });
    await s.create(record);
    const writes = Array.from({ length: 10 }, (_, i) => s.update(record.id, { set: { [`k${i}`]: i } }));
    const [destroyed] = await Promise.all([s.destroy(record.id), ...writes]);
    assert.equal(destroyed, true);
    assert.equal(await s.find(record.id, Date.now(), Infinity), null);
    assert.equal(await s.update(record.id, { set: { late: true } }), false);
  });

  it('find — concurrent touches leave one consistent record', async () => {
    const s = store();
    const record = sampleRecord();
    await s.create(record);
    const times = Array.from({ length: 8 }, (_, i) => record.lastSeenAt + (i + 1) * 60_000);
    await Promise.all(times.map((now) => s.find(record.id, now, 0)));
    const found = await s.find(record.id, record.lastSeenAt, Infinity);
    assert.ok(found && times.includes(found.lastSeenAt));
    assert.equal(found.idleExpiresAt, found.lastSeenAt + record.idleTimeout);
  });

  it('listByUser — uses the per-user index, and the sweep the expiry index (no sequential scan)', async () => {
    const s = store();
    const principal = samplePrincipal();
    await s.create(sampleRecord({ principal }));
    const plan = async (sql: string, params: unknown[]) => {
      const c = await pool!.connect();
      try {
        await c.query('SET enable_seqscan = off');
        return JSON.stringify((await c.query(`EXPLAIN (FORMAT JSON) ${sql}`, params)).rows);
      } finally {
        c.release(true);
      }
    };
    const byUser = await plan(`SELECT id FROM ${OWN_TABLE} WHERE user_id = $1 AND expires_at > $2 ORDER BY created_at, id`, [
      principal.id,
      Date.now(),
    ]);
    assert.match(byUser, new RegExp(`${OWN_TABLE}_user_idx`));
    const sweep = await plan(`SELECT id FROM ${OWN_TABLE} WHERE expires_at <= $1`, [Date.now()]);
    assert.match(sweep, new RegExp(`${OWN_TABLE}_expires_idx`));
  });

  it('migrate — concurrent migrations of a new table in a new schema all succeed', async () => {
    const schema = 'kc_pgstore_schema';
    await pool!.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    try {
      const stores = Array.from({ length: 4 }, () => new PostgresStore({ client: client!, schema, migrate: true, sweepInterval: 0 }));
      await Promise.all(stores.map((s) => s.ping()));
      const record = sampleRecord();
      await stores[0]!.create(record);
      assert.equal((await stores[3]!.find(record.id, Date.now(), Infinity))?.id, record.id);
      assert.equal(stores[0]!.names.channel, 'kc_pgstore_schema_keycard_sessions_revoked');
    } finally {
      await pool!.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    }
  });
});

for (const driver of PG_DRIVERS) {
  describe(`PostgresStore on the ${driver} driver`, { skip }, () => {
    it('create, update, refreshPrincipal — data and principal are stored as jsonb objects, not as JSON strings', async () => {
      // The regression: `postgres` JSON.stringifies a value bound to a jsonb parameter, so the JSON text the
      // store sent became a jsonb string; reads parsed it back and looked right, but `data || patch` built an array.
      const { pool: driverPool, table } = conformance.get(driver)!;
      const s = new PostgresStore({ client: driverPool.client, table, sweepInterval: 0 });
      const principal = samplePrincipal();
      const record = sampleRecord({ principal, data: { theme: 'dark' } });
      await s.create(record);
      const types = async () =>
        (await pool!.query(`SELECT jsonb_typeof(data) AS data, jsonb_typeof(principal) AS principal FROM ${table} WHERE id = $1`, [record.id]))
          .rows[0] as { data: string; principal: string };
      assert.deepEqual(await types(), { data: 'object', principal: 'object' });
      await s.update(record.id, { set: { lang: 'fr' } });
      await s.refreshPrincipal({ ...principal, roles: ['admin'] });
      assert.deepEqual(await types(), { data: 'object', principal: 'object' });
      assert.deepEqual((await s.find(record.id, Date.now(), Infinity))?.data, { theme: 'dark', lang: 'fr' });
    });
  });
}

/** Resolves once `check()` holds, polling every 5 ms; rejects after `ms`. */
async function until(check: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = performance.now() + ms;
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

let listeners = 0;
for (const driver of PG_DRIVERS) {
  describe(`SqlClient.listen on the ${driver} driver`, { skip }, () => {
    /** A pool of its own (named, so that its LISTEN connections can be found and terminated), ended after `body`. */
    async function withPool(body: (driverPool: DriverPool, name: string, channel: string) => Promise<void>): Promise<void> {
      const name = `kc-listen-${process.pid}-${++listeners}`;
      const driverPool = openPool(driver, DATABASE_URL, { max: 2, applicationName: name, retryDelay: 20 });
      try {
        await body(driverPool, name, `kc_listen_${process.pid}_${listeners}`);
      } finally {
        await driverPool.end();
      }
    }
    const terminateListeners = async (name: string): Promise<number> =>
      (
        await pool!.query(
          `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 AND query ILIKE 'listen %'`,
          [name],
        )
      ).rowCount ?? 0;
    const notify = (channel: string, payload: string) => pool!.query('SELECT pg_notify($1, $2)', [channel, payload]);

    it('listen — its connection terminated (pg_terminate_backend): lost, then restored, then it delivers again', async () => {
      await withPool(async (driverPool, name, channel) => {
        const events: string[] = [];
        const heard: string[] = [];
        const stop = await driverPool.client.listen!(channel, (payload) => heard.push(payload), {
          lost: () => events.push('lost'),
          restored: () => events.push('restored'),
        });
        try {
          await notify(channel, 'before');
          await until(() => heard.includes('before'), 'the first notification');
          const killedAt = performance.now();
          assert.equal(await terminateListeners(name), 1, 'one LISTEN connection');
          await until(() => events.includes('restored'), 'LISTEN re-established');
          console.log(`[${driver}] LISTEN terminated → restored reported after ${(performance.now() - killedAt).toFixed(1)} ms`);
          assert.deepEqual(events, ['lost', 'restored']);
          await notify(channel, 'after');
          await until(() => heard.includes('after'), 'a notification on the new connection');
        } finally {
          await stop();
        }
      });
    });

    it('listen — rejects while the database is unreachable, and is in effect once it is back (one driver listener, however many retries)', async () => {
      const proxy = new TcpProxy(upstream.hostname, Number(upstream.port || 5432));
      const url = new URL(DATABASE_URL);
      url.port = String(await proxy.listen());
      proxy.mode = 'refuse';
      const driverPool = openPool(driver, url.href, { max: 2, connectTimeoutMs: 1000, retryDelay: 20 });
      const channel = `kc_listen_${process.pid}_${++listeners}`;
      const heard: string[] = [];
      try {
        for (let attempt = 0; attempt < 3; attempt++) {
          await assert.rejects(driverPool.client.listen!(channel, (payload) => heard.push(`early ${payload}`)), `attempt ${attempt}`);
        }
        proxy.mode = 'forward';
        let stop: (() => Promise<void>) | undefined;
        const deadline = performance.now() + 10_000;
        while (stop === undefined) {
          stop = await driverPool.client.listen!(channel, (payload) => heard.push(payload)).catch(() => undefined);
          if (stop === undefined && performance.now() > deadline) assert.fail('LISTEN not in effect within 10 s of the database coming back');
        }
        await notify(channel, 'back');
        await until(() => heard.includes('back'), 'a notification once the database is back');
        assert.deepEqual(heard, ['back'], 'delivered once, and not to the attempts that failed');
        if (driver === 'postgres') {
          // The regression: every failed attempt left one more listener in the driver, retried and called forever.
          const registered = (driverPool.raw as { listen: { channels: Record<string, { listeners: unknown[] }> } }).listen.channels[channel];
          assert.equal(registered?.listeners.length, 1);
        }
        await stop();
      } finally {
        await driverPool.end();
        await proxy.close();
      }
    });

    it('listen — stopped after a reconnection, it delivers nothing more (and reports nothing more)', async () => {
      await withPool(async (driverPool, name, channel) => {
        const first: string[] = [];
        const second: string[] = [];
        let restored = 0;
        const events = { lost: () => undefined, restored: () => void restored++ };
        const stopFirst = await driverPool.client.listen!(channel, (payload) => first.push(payload), events);
        const stopSecond = await driverPool.client.listen!(channel, (payload) => second.push(payload), events);
        try {
          assert.ok((await terminateListeners(name)) >= 1);
          await until(() => restored === 2, 'both listeners re-subscribed');
          await stopFirst();
          await notify(channel, 'after-stop');
          // Both listeners of one channel are called for the same notification, the first one first.
          await until(() => second.includes('after-stop'), 'the remaining listener hears it');
          assert.deepEqual(first, [], 'the stopped listener heard nothing');
          await terminateListeners(name);
          await until(() => restored === 3, 'the remaining listener re-subscribed');
          assert.equal(restored, 3, 'the stopped listener reported no reconnection');
        } finally {
          await stopSecond();
        }
      });
    });
  });
}
