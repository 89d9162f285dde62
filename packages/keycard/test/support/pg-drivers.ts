import pg from 'pg';
import postgres from 'postgres';
import { pgPoolClient, postgresJsClient, type PgPoolLike, type PostgresJsSqlLike, type SqlClient, type SqlValue } from '../../src/postgres/index.js';

/**
 * The two PostgreSQL drivers keycard adapts (`pg` through `pgPoolClient`,
 * `postgres` through `postgresJsClient`), behind one factory, so that a suite
 * written once runs on both: `for (const driver of PG_DRIVERS) describe(…)`.
 */
export type PgDriver = 'pg' | 'postgres';

export const PG_DRIVERS: readonly PgDriver[] = ['pg', 'postgres'];

export interface DriverPoolOptions {
  /** Connections in the pool (the LISTEN connection comes on top with `postgres`, out of it with `pg`). */
  readonly max: number;
  /** `application_name` of every connection, so that a test can find them in `pg_stat_activity`. */
  readonly applicationName?: string;
  /** Milliseconds a connection attempt may take. Default: the driver's. */
  readonly connectTimeoutMs?: number;
  /** `pg` only: the adapter's first LISTEN reconnection delay. */
  readonly retryDelay?: number;
  /** Called when the adapter re-established LISTEN after a loss. */
  readonly onReconnect?: () => void;
  /** `postgres` only: its `fetch_types`. Default false, as the README recommends. */
  readonly fetchTypes?: boolean;
}

/** A driver pool and keycard's adapter on it. */
export interface DriverPool {
  readonly driver: PgDriver;
  readonly client: SqlClient;
  /** The driver's own pool object (`pg.Pool`, `postgres` Sql), for a test that must look inside it. */
  readonly raw: unknown;
  /** Runs one statement directly on the driver (outside the adapter). */
  exec(text: string, params?: SqlValue[]): Promise<readonly Record<string, unknown>[]>;
  end(): Promise<void>;
}

export function openPool(driver: PgDriver, url: string, options: DriverPoolOptions): DriverPool {
  return driver === 'pg' ? openPg(url, options) : openPostgresJs(url, options);
}

function openPg(url: string, options: DriverPoolOptions): DriverPool {
  const pool = new pg.Pool({
    connectionString: url,
    max: options.max,
    ...(options.applicationName === undefined ? {} : { application_name: options.applicationName }),
    ...(options.connectTimeoutMs === undefined ? {} : { connectionTimeoutMillis: options.connectTimeoutMs }),
  });
  // Compile-time check that a real pg.Pool fits the structural type the adapter takes.
  const poolLike: PgPoolLike = pool;
  const client = pgPoolClient(poolLike, {
    ...(options.retryDelay === undefined ? {} : { retryDelay: options.retryDelay }),
    ...(options.onReconnect === undefined ? {} : { onReconnect: options.onReconnect }),
  });
  return {
    driver: 'pg',
    client,
    raw: pool,
    exec: async (text, params = []) => (await pool.query(text, params)).rows as Record<string, unknown>[],
    end: () => pool.end(),
  };
}

function openPostgresJs(url: string, options: DriverPoolOptions): DriverPool {
  const sql = postgres(url, {
    max: options.max,
    onnotice: () => undefined,
    // As the README recommends: keycard binds no arrays, and the driver's array-type fetch on each new connection
    // can end the process when that connection is cut (postgres-js-array-types.test.ts).
    fetch_types: options.fetchTypes ?? false,
    // The reconnection backoff the README recommends (the default, capped at 0.5 s): the default grows to 10-20 s after a few
    // failed attempts (counted across the pool and its LISTEN connection), so LISTEN came back that late.
    backoff: (attempt) => Math.min(3 ** attempt / 100, 0.5),
    ...(options.applicationName === undefined ? {} : { connection: { application_name: options.applicationName } }),
    ...(options.connectTimeoutMs === undefined ? {} : { connect_timeout: options.connectTimeoutMs / 1000 }),
  });
  // Compile-time check that a real postgres() instance fits the structural type the adapter takes.
  const sqlLike: PostgresJsSqlLike = sql;
  const client = postgresJsClient(sqlLike, options.onReconnect === undefined ? {} : { onReconnect: options.onReconnect });
  return {
    driver: 'postgres',
    client,
    raw: sql,
    exec: async (text, params = []) => [...(await sql.unsafe(text, params))],
    end: () => sql.end({ timeout: 1 }),
  };
}
