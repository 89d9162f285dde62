/**
 * The one statement of an authenticated read on PostgreSQL, through each
 * driver keycard could use (issue 12: "measure `pg` against the `postgres`
 * driver for this one query and keep the faster if it is clearly faster"):
 *
 * - `pg`, unnamed statement: what `pgPoolClient` sent before it named its
 *   statements (Parse, Bind, Describe, Execute, Sync on every call: the
 *   server parses and plans each time);
 * - `pg` through `pgPoolClient` (a named prepared statement,
 *   `{ name, text, values }`): parsed and planned once per pooled
 *   connection, then Bind + Execute only;
 * - `postgres` (porsager) through `postgresJsClient`
 *   (`unsafe(text, params, { prepare: true })`): its prepared-statement path,
 *   which its tagged templates use by default.
 *
 * The statement is captured from `PostgresStore.find` itself (a recording
 * client), so the figure is for the exact SQL keycard sends, with a touch
 * interval that is not due (the steady state: no write). Each driver has a
 * pool of 10 and keeps 10 queries in flight; drivers alternate over rounds;
 * the client's CPU per query (`process.cpuUsage`, this process) is the figure
 * that matters to an app server, queries per second the one that matters to
 * a user. Medians over rounds.
 */
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { PostgresStore, pgPoolClient, postgresJsClient, type SqlClient, type SqlValue } from 'keycard/postgres';
import type { SessionRecord } from 'keycard';
import { dropTable } from '../harness/postgres.js';
import { DEFAULT_DATABASE_URL } from './demo-deployment.js';
import { result, type Experiment, type Figure, type Scale } from './experiment.js';

const SCALE: Record<Scale, { rounds: number; queries: number }> = { quick: { rounds: 1, queries: 300 }, full: { rounds: 5, queries: 20_000 } };
const IN_FLIGHT = 10;
const TABLE = 'kcbench_pg_read';

type Query = (text: string, params: SqlValue[]) => Promise<readonly unknown[]>;

interface Driver {
  readonly name: string;
  readonly query: Query;
  close(): Promise<void>;
}

export interface DriverFigures {
  readonly driver: string;
  readonly queriesPerSecond: number;
  readonly cpuMicrosPerQuery: number;
  readonly rounds: number;
}

function record(now: number): SessionRecord {
  return {
    id: 'pg-read-session',
    handle: 'pg-read-handle',
    principal: { id: 'u-1', roles: ['user'], authVersion: 1, claims: { email: 'ada@example.com', name: 'Ada Lovelace' } },
    data: {},
    createdAt: now,
    lastSeenAt: now,
    authenticatedAt: now,
    idleTimeout: 1_800_000,
    idleExpiresAt: now + 1_800_000,
    absoluteExpiresAt: now + 86_400_000,
    remember: false,
    rotationDue: false,
    userAgent: 'Mozilla/5.0 (bench)',
    ip: '203.0.113.1',
  };
}

/** The SQL text and parameters `PostgresStore.find` sends for a read whose touch is not due. */
async function captureRead(databaseUrl: string): Promise<{ text: string; params: SqlValue[] }> {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 1 });
  const inner = pgPoolClient(pool);
  let captured: { text: string; params: SqlValue[] } | undefined;
  const recording: SqlClient = {
    query: (text, params) => {
      captured = { text, params: [...params] };
      return inner.query(text, params);
    },
  };
  try {
    const store = new PostgresStore({ client: inner, table: TABLE, sweepInterval: 0 });
    await store.migrate();
    const now = Date.now();
    await store.create(record(now)).catch(() => undefined);
    const reader = new PostgresStore({ client: recording, table: TABLE, sweepInterval: 0 });
    const found = await reader.find('pg-read-session', now, 180_000);
    if (found === null || captured === undefined) throw new Error('the read found no session');
    return captured;
  } finally {
    await pool.end();
  }
}

async function drivers(databaseUrl: string): Promise<Driver[]> {
  const unnamed = new pg.Pool({ connectionString: databaseUrl, max: IN_FLIGHT });
  const named = new pg.Pool({ connectionString: databaseUrl, max: IN_FLIGHT });
  const { default: postgres } = await import('postgres');
  const porsager = postgres(databaseUrl, { max: IN_FLIGHT, onnotice: () => undefined });
  const pgClient = pgPoolClient(named);
  const postgresClient = postgresJsClient(porsager);
  return [
    { name: 'pg, unnamed statement', query: async (text, params) => (await unnamed.query(text, params as unknown[])).rows, close: () => unnamed.end() },
    {
      name: 'pg, named prepared statement (pgPoolClient)',
      query: async (text, params) => (await pgClient.query(text, params)).rows,
      close: () => named.end(),
    },
    {
      name: 'postgres, prepared (postgresJsClient)',
      query: async (text, params) => (await postgresClient.query(text, params)).rows,
      close: () => porsager.end({ timeout: 1 }),
    },
  ];
}

/** `total` queries with `IN_FLIGHT` outstanding at a time; queries/s and client CPU µs per query. */
async function measure(query: Query, text: string, params: SqlValue[], total: number): Promise<{ qps: number; cpu: number }> {
  let started = 0;
  const worker = async (): Promise<void> => {
    while (started < total) {
      started++;
      const rows = await query(text, params);
      if (rows.length !== 1) throw new Error(`the read returned ${rows.length} rows`);
    }
  };
  const cpuBefore = process.cpuUsage();
  const t0 = performance.now();
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  return { qps: total / seconds, cpu: (cpu.user + cpu.system) / total };
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

export const pgRead: Experiment = {
  name: 'pg-read',
  title: 'The authenticated-read statement on PostgreSQL: pg (unnamed, prepared) against the postgres driver',
  async run(scale) {
    const { rounds, queries } = SCALE[scale];
    const databaseUrl = process.env.BENCH_DATABASE_URL ?? DEFAULT_DATABASE_URL;
    const { text, params } = await captureRead(databaseUrl);
    const all = await drivers(databaseUrl);
    const samples = new Map<string, { qps: number[]; cpu: number[] }>(all.map((d) => [d.name, { qps: [], cpu: [] }]));
    const problems: string[] = [];
    try {
      // Warm every pool (connections, prepared statements, JIT) before anything is measured.
      for (const driver of all) await measure(driver.query, text, params, Math.min(queries, 500));
      for (let round = 0; round < rounds; round++) {
        // Rotated each round, so that drifting machine load spreads over all three.
        for (let i = 0; i < all.length; i++) {
          const driver = all[(i + round) % all.length] as Driver;
          const figure = await measure(driver.query, text, params, queries);
          samples.get(driver.name)?.qps.push(figure.qps);
          samples.get(driver.name)?.cpu.push(figure.cpu);
        }
      }
    } catch (error) {
      problems.push(`a read failed: ${(error as Error).message}`);
    } finally {
      for (const driver of all) await driver.close().catch(() => undefined);
      await dropTable(databaseUrl, TABLE).catch(() => undefined);
    }
    const figures: DriverFigures[] = [...samples].map(([driver, s]) => ({
      driver,
      queriesPerSecond: s.qps.length ? median(s.qps) : Number.NaN,
      cpuMicrosPerQuery: s.cpu.length ? median(s.cpu) : Number.NaN,
      rounds: s.qps.length,
    }));
    const rows: Figure[] = figures.map((f) => ({
      label: f.driver,
      value: `${f.queriesPerSecond.toFixed(0)} queries/s, ${f.cpuMicrosPerQuery.toFixed(1)} µs client CPU per query (median of ${f.rounds} rounds × ${queries}, ${IN_FLIGHT} in flight)`,
    }));
    return result(rows, problems, { scale, queries, rounds, inFlight: IN_FLIGHT, statement: text, figures });
  },
};
