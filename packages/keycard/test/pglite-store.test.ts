import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { PGlite } from '@electric-sql/pglite';
import { InvalidOptionsError, SessionExistsError, StoreUnavailableError, UnsupportedOperationError } from '../src/index.js';
import { PostgresStore, migrationSql, pgliteClient, type PGliteLike, type SqlClient } from '../src/postgres/index.js';
import { describeSessionStore, samplePrincipal, sampleRecord } from '../src/testing/index.js';

// One PGlite per file: creating one costs seconds.
const db = await PGlite.create();
// Compile-time check that a real PGlite fits the structural type the adapter takes.
const dbLike: PGliteLike = db;
const client = pgliteClient(dbLike);
await new PostgresStore({ client, sweepInterval: 0 }).migrate();
after(() => db.close());

describeSessionStore('pglite', () => new PostgresStore({ client, sweepInterval: 0 }));

/** A promise settled from outside, rejected after `ms`: a deadline, not a sleep. */
function deferred<T = void>(ms: number): { promise: Promise<T>; resolve: (value: T) => void } {
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

describe('PostgresStore on PGlite', () => {
  const store = () => new PostgresStore({ client, sweepInterval: 0 });

  it('find — returns an expired row untouched, so the manager can report and destroy it', async () => {
    const s = store();
    const now = Date.now();
    const record = sampleRecord({ idleTimeout: 1000, idleExpiresAt: now + 1000 });
    await s.create(record);
    assert.deepEqual(await s.find(record.id, now + 5000, 0), record);
  });

  it('create/find — times far beyond 2^32 seconds round-trip exactly', async () => {
    const s = store();
    const far = Date.UTC(9999, 11, 31, 23, 59, 59, 999);
    const record = sampleRecord({ absoluteExpiresAt: far, idleExpiresAt: far - 1, authenticatedAt: far - 2 });
    await s.create(record);
    assert.deepEqual(await s.find(record.id, record.lastSeenAt, Infinity), record);
  });

  it('create — refuses fractional milliseconds with a clear error', async () => {
    await assert.rejects(store().create(sampleRecord({ createdAt: 1.5 })), /expected integer milliseconds, got 1.5/);
  });

  it('rotate — to a taken id rejects and leaves the old session in place', async () => {
    const s = store();
    const principal = samplePrincipal();
    const old = sampleRecord({ principal });
    const taken = sampleRecord();
    await s.create(old);
    await s.create(taken);
    await assert.rejects(s.rotate(old.id, { ...sampleRecord({ principal }), id: taken.id }), SessionExistsError);
    assert.equal((await s.find(old.id, Date.now(), Infinity))?.id, old.id);
    assert.deepEqual((await s.listByUser(principal.id, Date.now())).map((r) => r.id), [old.id]);
  });

  it('sweep — deletes expired rows and only those', async () => {
    const s = store();
    const principal = samplePrincipal();
    const now = Date.now();
    const expired = sampleRecord({ principal, idleTimeout: 1000, idleExpiresAt: now + 1000 });
    const live = sampleRecord({ principal });
    await s.create(expired);
    await s.create(live);
    assert.ok((await s.sweep(now + 2000)) >= 1);
    assert.equal(await s.find(expired.id, now, Infinity), null);
    assert.equal((await s.find(live.id, now, Infinity))?.id, live.id);
  });

  it('sweep — runs by itself on its timer', async () => {
    const record = sampleRecord({ idleTimeout: 1, idleExpiresAt: Date.now() - 1 });
    await store().create(record);
    const swept = deferred<number>(3000);
    const sweeper = new PostgresStore({ client, sweepInterval: 0.02, onSwept: (n) => n > 0 && swept.resolve(n) });
    try {
      assert.ok((await swept.promise) >= 1);
      assert.equal(await store().find(record.id, Date.now(), Infinity), null);
    } finally {
      await sweeper.close();
    }
  });

  it('revokeAll — publishes many handles in several NOTIFY payloads under the 8000-byte limit', async () => {
    const s = store();
    const principal = samplePrincipal();
    const count = 450;
    const template = sampleRecord();
    await client.query(
      `INSERT INTO keycard_sessions (id, handle, user_id, principal, data, created_at, last_seen_at, idle_timeout,
         idle_expires_at, absolute_expires_at, remember, rotation_due)
       SELECT $1 || i, 'handle-' || lpad(i::text, 16, '0'), $2, $3::jsonb, '{}', $4, $4, $5, $6, $7, false, false
       FROM generate_series(1, $8::int) AS i`,
      [template.id, principal.id, JSON.stringify(principal), template.createdAt, template.idleTimeout,
        template.idleExpiresAt, template.absoluteExpiresAt, count],
    );
    const received: string[] = [];
    let batches = 0;
    const done = deferred(3000);
    const unsubscribe = await s.onRevoked((handles) => {
      batches++;
      received.push(...handles);
      if (received.length >= count) done.resolve(undefined);
    });
    const handles = await s.revokeAll(principal.id);
    await done.promise;
    await unsubscribe();
    assert.equal(handles.length, count);
    assert.deepEqual([...received].sort(), [...handles].sort());
    assert.ok(batches >= 3, `expected several payloads, got ${batches}`);
  });

  it('onRevoked — a store on another table does not hear this one’s revocations', async () => {
    const other = new PostgresStore({ client, table: 'keycard_sessions_other', migrate: true, sweepInterval: 0 });
    const s = store();
    const mine = sampleRecord();
    const theirs = sampleRecord();
    await s.create(mine);
    await other.create(theirs);
    const heard: string[] = [];
    const stopOther = await other.onRevoked((handles) => heard.push(...handles));
    const published = deferred<readonly string[]>(2000);
    const stop = await s.onRevoked(published.resolve);
    await s.destroy(mine.id);
    await other.destroy(theirs.id);
    assert.deepEqual(await published.promise, [mine.handle]);
    assert.deepEqual(heard, [theirs.handle]);
    assert.equal(await other.find(mine.id, Date.now(), Infinity), null);
    await stopOther();
    await stop();
    await s.close();
    await other.close();
  });

  it('onRevoked — rejects with UnsupportedOperationError when the client cannot LISTEN', async () => {
    const queryOnly: SqlClient = { query: (text, params) => client.query(text, params) };
    const s = new PostgresStore({ client: queryOnly, sweepInterval: 0 });
    await assert.rejects(s.onRevoked(() => undefined), UnsupportedOperationError);
    await s.close();
  });

  it('migrate — option true creates a missing table before the first operation, idempotently', async () => {
    const a = new PostgresStore({ client, table: 'keycard_auto', schema: 'keycard_pglite', migrate: true, sweepInterval: 0 });
    const b = new PostgresStore({ client, table: 'keycard_auto', schema: 'keycard_pglite', migrate: true, sweepInterval: 0 });
    const record = sampleRecord();
    await Promise.all([a.create(record), b.ping()]);
    assert.equal((await b.find(record.id, Date.now(), Infinity))?.id, record.id);
    await a.migrate();
    const comment = await client.query(`SELECT obj_description('keycard_pglite.keycard_auto'::regclass) AS c`, []);
    assert.equal(comment.rows[0]?.['c'], 'keycard sessions, schema version 1');
  });

  it('migrate — without it a missing table is a StoreUnavailableError, not a crash', async () => {
    const s = new PostgresStore({ client, table: 'keycard_never_created', sweepInterval: 0 });
    await assert.rejects(s.find(sampleRecord().id, Date.now(), Infinity), StoreUnavailableError);
  });

  it('constructor — rejects a table name that is not a plain identifier', () => {
    for (const table of ['Sessions', 'a-b', 'x; DROP TABLE users', '1abc', 'a'.repeat(41)]) {
      assert.throws(() => new PostgresStore({ client, table }), InvalidOptionsError, table);
    }
    assert.throws(() => new PostgresStore({ client, schema: 'Public' }), /schema must be a lowercase SQL identifier/);
    assert.throws(() => migrationSql({ table: 'bad name' }), /table must be a lowercase SQL identifier/);
  });

  it('constructor — rejects a negative sweep interval', () => {
    assert.throws(() => new PostgresStore({ client, sweepInterval: -1 }), /sweepInterval must be a number of seconds >= 0/);
  });
});
