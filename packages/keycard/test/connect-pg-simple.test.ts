import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { after, describe, it } from 'node:test';
import session from 'express-session';
import pg from 'pg';
import { ConnectStoreAdapter, type ConnectStore } from '../src/index.js';
import { describeSessionStore, sampleRecord } from '../src/testing/index.js';
import { DATABASE_URL, postgresSkip } from './support/services.js';

/** The part of connect-pg-simple 10 used here (it ships no types). */
interface PgSimpleOptions {
  readonly pool: pg.Pool;
  readonly schemaName?: string;
  readonly tableName?: string;
  readonly createTableIfMissing?: boolean;
  readonly pruneSessionInterval?: number | false;
}
type PgSimpleStore = ConnectStore & { close(): Promise<void> };
const connectPgSimple = createRequire(import.meta.url)('connect-pg-simple') as (
  expressSession: typeof session,
) => new (options: PgSimpleOptions) => PgSimpleStore;

// The database is shared: this file works in a schema of its own, because connect-pg-simple
// names its primary key and index with fixed names that would collide with another "session" table.
const SCHEMA = 'kc_connect_pg_simple';
const TABLE = 'sessions';

const skip = await postgresSkip();
let pool: pg.Pool | undefined;
let backing: PgSimpleStore | undefined;
if (!skip) {
  pool = new pg.Pool({ connectionString: DATABASE_URL, max: 4 });
  await pool.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
  await pool.query(`CREATE SCHEMA ${SCHEMA}`);
  const PGStore = connectPgSimple(session);
  backing = new PGStore({ pool, schemaName: SCHEMA, tableName: TABLE, createTableIfMissing: true, pruneSessionInterval: false });
}

// After every suite of the file, not just the conformance one.
after(async () => {
  await backing?.close();
  await pool?.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
  await pool?.end();
});

const adapter = () => new ConnectStoreAdapter(backing as ConnectStore);

describeSessionStore('connect-pg-simple', adapter, {
  skip,
  lacks: ['perUserIndex', 'atomicUpdate'],
});

describe('ConnectStoreAdapter on connect-pg-simple', { skip }, () => {
  it('create/find — the row’s expire column follows the record’s expiry, and a touch moves it', async () => {
    const store = adapter();
    const now = Date.now();
    const record = sampleRecord({ idleExpiresAt: now + 30 * 60_000, absoluteExpiresAt: now + 60 * 60_000 });
    await store.create(record);
    const expire = async () =>
      Number(
        (await pool!.query(`SELECT extract(epoch FROM expire) * 1000 AS ms FROM ${SCHEMA}.${TABLE} WHERE sid = $1`, [record.id]))
          .rows[0]?.ms,
      );
    assert.equal(await expire(), Math.ceil((now + 30 * 60_000) / 1000) * 1000);
    await store.find(record.id, now + 10 * 60_000, 0);
    assert.equal(await expire(), Math.ceil((now + 40 * 60_000) / 1000) * 1000);
  });

  it('find — a row past its expire is gone for keycard even before connect-pg-simple prunes it', async () => {
    const store = adapter();
    const record = sampleRecord();
    await store.create(record);
    await pool!.query(`UPDATE ${SCHEMA}.${TABLE} SET expire = now() - interval '1 minute' WHERE sid = $1`, [record.id]);
    assert.equal(await store.find(record.id, Date.now(), Infinity), null);
  });
});
