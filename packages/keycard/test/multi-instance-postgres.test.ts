import { after, before } from 'node:test';
import pg from 'pg';
import { PostgresStore, pgPoolClient } from '../src/postgres/index.js';
import { describeMultiInstance } from './support/multi-instance.js';
import { PG_DRIVERS } from './support/pg-drivers.js';
import { DATABASE_URL, postgresSkip } from './support/services.js';

// Three real app processes (Fastify, Express, Fastify) on the shared PostgreSQL, in a table
// of their own that this file creates and drops; once on each driver.
const skip = await postgresSkip();
const TABLE = `kc_multi_${process.pid}`;
let direct: pg.Pool | undefined;

before(async () => {
  if (skip) return;
  direct = new pg.Pool({ connectionString: DATABASE_URL, max: 1 });
  await direct.query(`DROP TABLE IF EXISTS ${TABLE}`);
  await new PostgresStore({ client: pgPoolClient(direct), table: TABLE, sweepInterval: 0 }).migrate();
});

after(async () => {
  await direct?.query(`DROP TABLE IF EXISTS ${TABLE}`);
  await direct?.end();
});

for (const driver of PG_DRIVERS) {
  describeMultiInstance(`three app processes sharing one PostgreSQL (${driver} driver)`, {
    skip,
    platforms: ['fastify', 'express', 'fastify'],
    store: () => ({ kind: 'postgres', url: DATABASE_URL, table: TABLE, driver }),
  });
}
