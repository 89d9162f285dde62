import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { PGlite } from '@electric-sql/pglite';
import { LoginThrottle } from '../src/index.js';
import { pgliteClient, PostgresRateLimitStore } from '../src/postgres/index.js';
import { describeRateLimitStore } from '../src/testing/index.js';
import { manualClock } from './support/clock.js';

// One embedded database for the file: creating one runs initdb (3–5 s).
const db = await PGlite.create();
const client = pgliteClient(db);
await new PostgresRateLimitStore({ client: client, sweepInterval: 0 }).migrate();

describeRateLimitStore('pglite', () => new PostgresRateLimitStore({ client: client, sweepInterval: 0 }));

describe('PostgresRateLimitStore on PGlite', () => {
  after(() => db.close());

  it('migrate — is idempotent', async () => {
    await new PostgresRateLimitStore({ client: client, sweepInterval: 0 }).migrate();
    const tables = await db.query(`SELECT count(*)::int AS n FROM pg_tables WHERE tablename = 'keycard_rate_limits'`);
    assert.deepEqual(tables.rows, [{ n: 1 }]);
  });

  it('sweep — deletes rows whose every entry has left its window', async () => {
    const store = new PostgresRateLimitStore({ client: client, table: 'keycard_rl_sweep', sweepInterval: 0 });
    await store.migrate();
    const t0 = Date.now();
    await store.consume('sweep-me', t0, { limit: 2, windowMs: 60_000 });
    assert.equal(await store.sweep(t0 + 59_999), 0);
    assert.equal(await store.sweep(t0 + 60_000), 1);
    assert.deepEqual(await store.peek('sweep-me', t0, { limit: 2, windowMs: 60_000 }), { count: 0, oldestAt: null });
  });

  it('LoginThrottle — limits sign-ins with counters in the embedded database', async () => {
    const clock = manualClock();
    const throttle = new LoginThrottle({ store: new PostgresRateLimitStore({ client: client, sweepInterval: 0 }), clock, maxAttempts: 2 });
    assert.equal((await throttle.check('embedded@example.com', '192.0.2.1')).allowed, true);
    assert.equal((await throttle.check('embedded@example.com', '192.0.2.1')).allowed, true);
    assert.deepEqual(await throttle.check('embedded@example.com', '192.0.2.1'), {
      allowed: false,
      retryAfterSeconds: 900,
      scope: 'account',
    });
  });
});
