import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { InvalidOptionsError, LoginThrottle } from '../src/index.js';
import { pgPoolClient, PostgresRateLimitStore } from '../src/postgres/index.js';
import { describeRateLimitStore } from '../src/testing/index.js';
import { manualClock } from './support/clock.js';
import { openPool } from './support/pg-drivers.js';
import { DATABASE_URL, postgresSkip } from './support/services.js';

const skip = await postgresSkip();
// Our own table per run: the database is shared with other suites and engineers.
const table = `keycard_rl_test_${randomBytes(5).toString('hex')}`;
const pool = skip ? null : new pg.Pool({ connectionString: DATABASE_URL, max: 8 });

/** The same table through the `postgres` driver (`postgresJsClient`), for the conformance suite on it. */
const postgresJs = skip ? null : openPool('postgres', DATABASE_URL, { max: 8 });

async function teardown(): Promise<void> {
  if (!pool) return;
  await postgresJs?.end();
  await pool.query(`DROP TABLE IF EXISTS "${table}"`);
  await pool.end();
}

function store(options: { sweepInterval?: number } = {}): PostgresRateLimitStore {
  if (!pool) throw new Error('PostgreSQL is not available');
  return new PostgresRateLimitStore({ client: pgPoolClient(pool), table, sweepInterval: 0, ...options });
}

if (pool) await store().migrate();

describeRateLimitStore('postgres', () => store(), { skip });
describeRateLimitStore('postgres (postgres driver)', () => new PostgresRateLimitStore({ client: postgresJs!.client, table, sweepInterval: 0 }), { skip });

describe('PostgresRateLimitStore', { skip }, () => {
  after(teardown);

  it('migrate — is idempotent, and safe to run from several processes at once', async () => {
    const fresh = `keycard_rl_test_${randomBytes(5).toString('hex')}`;
    const pools = [0, 1, 2].map(() => new pg.Pool({ connectionString: DATABASE_URL, max: 1 }));
    try {
      // Connected first, so the three migrations race (without the lock, most of them fail).
      await Promise.all(pools.map((p) => p.query('SELECT 1')));
      const stores = pools.map((client) => new PostgresRateLimitStore({ client: pgPoolClient(client), table: fresh, sweepInterval: 0 }));
      await Promise.all(stores.map((s) => s.migrate()));
      await stores[0]!.migrate();
      const columns = await pool!.query(
        `SELECT column_name, data_type FROM information_schema.columns WHERE table_name = $1 ORDER BY column_name`,
        [fresh],
      );
      assert.deepEqual(
        columns.rows.map((r: { column_name: string; data_type: string }) => `${r.column_name}:${r.data_type}`),
        ['allowed:boolean', 'expires_at:bigint', 'hits:ARRAY', 'key:text'],
      );
    } finally {
      await pool!.query(`DROP TABLE IF EXISTS "${fresh}"`);
      await Promise.all(pools.map((p) => p.end()));
    }
  });

  it('consume — keeps one row per key holding at most `limit` times', async () => {
    const s = store();
    const key = `bounded-${randomBytes(4).toString('hex')}`;
    const now = Date.now();
    for (let i = 0; i < 12; i++) await s.consume(key, now + i, { limit: 4, windowMs: 60_000 });
    const rows = await pool!.query(`SELECT cardinality(hits) AS n FROM "${table}" WHERE key = $1`, [key]);
    assert.deepEqual(rows.rows, [{ n: 4 }]);
  });

  it('sweep — deletes rows whose every entry has left its window, and only those', async () => {
    const s = store();
    const [stale, live] = [`stale-${randomBytes(4).toString('hex')}`, `live-${randomBytes(4).toString('hex')}`];
    const t0 = Date.now() - 10 * 86_400_000;
    await s.consume(stale, t0, { limit: 3, windowMs: 60_000 });
    await s.consume(live, Date.now(), { limit: 3, windowMs: 60_000 });
    assert.ok((await s.sweep(Date.now())) >= 1);
    const left = await pool!.query(`SELECT key FROM "${table}" WHERE key = ANY($1) ORDER BY key`, [[stale, live]]);
    assert.deepEqual(left.rows, [{ key: live }]);
  });

  it('constructor — refuses table and schema names that are not lowercase identifiers', () => {
    const client = pgPoolClient(pool!);
    assert.throws(
      () => new PostgresRateLimitStore({ client, table: 'x; DROP TABLE users' }),
      (error: unknown) =>
        error instanceof InvalidOptionsError &&
        error.message ===
          'keycard/postgres: rate-limit table must be a lowercase SQL identifier (letters, digits, _; not starting with a digit) ' +
            'of at most 40 characters, got "x; DROP TABLE users"',
    );
    assert.throws(() => new PostgresRateLimitStore({ client, schema: 'Auth' }), /rate-limit schema must be a lowercase SQL identifier/);
    assert.doesNotThrow(() => new PostgresRateLimitStore({ client, schema: 'auth', table: 'rate_limits', sweepInterval: 0 }));
  });

  it('migrate — creates a missing schema, and the store works inside it', async () => {
    const schema = `keycard_rl_schema_${randomBytes(4).toString('hex')}`;
    try {
      const s = new PostgresRateLimitStore({ client: pgPoolClient(pool!), schema, sweepInterval: 0 });
      await s.migrate();
      const now = Date.now();
      assert.deepEqual(await s.consume('k', now, { limit: 1, windowMs: 1000 }), { allowed: true, count: 1, oldestAt: now });
      const rows = await pool!.query(`SELECT key FROM "${schema}"."keycard_rate_limits"`);
      assert.deepEqual(rows.rows, [{ key: 'k' }]);
    } finally {
      await pool!.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    }
  });

  describe('LoginThrottle on PostgreSQL', () => {
    let clientA: pg.Pool;
    let clientB: pg.Pool;
    before(() => {
      clientA = new pg.Pool({ connectionString: DATABASE_URL, max: 4 });
      clientB = new pg.Pool({ connectionString: DATABASE_URL, max: 4 });
    });
    after(async () => {
      await clientA.end();
      await clientB.end();
    });

    it('LoginThrottle — two instances with separate pools share counts and never pass the limit together', async () => {
      const clock = manualClock();
      const options = { clock, maxAttempts: 5, namespace: `pg-${randomBytes(4).toString('hex')}` };
      const a = new LoginThrottle({ ...options, store: new PostgresRateLimitStore({ client: pgPoolClient(clientA), table, sweepInterval: 0 }) });
      const b = new LoginThrottle({ ...options, store: new PostgresRateLimitStore({ client: pgPoolClient(clientB), table, sweepInterval: 0 }) });
      const decisions = await Promise.all(
        Array.from({ length: 24 }, (_, i) => (i % 2 ? a : b).check('burst@example.com', `198.51.100.${i}`)),
      );
      assert.equal(decisions.filter((d) => d.allowed).length, 5);
      const refused = await a.check('burst@example.com', '198.51.100.200');
      assert.deepEqual(refused, { allowed: false, retryAfterSeconds: 900, scope: 'account' });
      clock.advance(900_000);
      assert.equal((await b.check('burst@example.com', '198.51.100.200')).allowed, true);
    });
  });
});
