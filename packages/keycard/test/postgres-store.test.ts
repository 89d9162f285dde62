import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import pg from 'pg';
import { PostgresStore, pgPoolClient, type PgPoolLike, type SqlClient } from '../src/postgres/index.js';
import { describeSessionStore, samplePrincipal, sampleRecord } from '../src/testing/index.js';
import { DATABASE_URL, postgresSkip } from './support/services.js';

// The database is shared with other engineers' suites: this file only ever touches its own tables.
const CONFORMANCE_TABLE = 'kc_pgstore_conformance';
const OWN_TABLE = 'kc_pgstore_specific';

const skip = await postgresSkip();
let pool: pg.Pool | undefined;
let client: SqlClient | undefined;
if (!skip) {
  pool = new pg.Pool({ connectionString: DATABASE_URL, max: 6 });
  // Compile-time check that a real pg.Pool fits the structural type the adapter takes.
  const poolLike: PgPoolLike = pool;
  client = pgPoolClient(poolLike);
  await pool.query(`DROP TABLE IF EXISTS ${CONFORMANCE_TABLE}, ${OWN_TABLE}`);
  await new PostgresStore({ client, table: CONFORMANCE_TABLE, sweepInterval: 0 }).migrate();
  await new PostgresStore({ client, table: OWN_TABLE, sweepInterval: 0 }).migrate();
}
after(async () => {
  await pool?.query(`DROP TABLE IF EXISTS ${CONFORMANCE_TABLE}, ${OWN_TABLE}`);
  await pool?.end();
});

const store = (table = OWN_TABLE) => new PostgresStore({ client: client as SqlClient, table, sweepInterval: 0 });

describeSessionStore('postgres', () => store(CONFORMANCE_TABLE), { skip });

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
