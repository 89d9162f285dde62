import { systemClock, type Clock } from '../core/clock.js';
import { windowState, type RateLimitResult, type RateLimitRule, type RateLimitState, type RateLimitStore } from '../throttle/rate-limit-store.js';
import { InvalidOptionsError } from '../core/errors.js';
import { createSchemaStatement, identifier } from './schema.js';
import type { SqlClient, SqlRow } from './sql-client.js';
import { sweepIntervalOption } from '../core/store-support.js';
import { sweepEvery } from '../core/sweep.js';

export interface PostgresRateLimitStoreOptions {
  /** How to reach the database: `pgPoolClient(pool)` or `pgliteClient(db)`. The store never closes it. */
  readonly client: SqlClient;
  /** Default `keycard_rate_limits`. A lowercase SQL identifier of at most 40 characters. */
  readonly table?: string;
  /** Default: the connection's `search_path`. Created by `migrate()` when missing. */
  readonly schema?: string;
  /** Seconds between sweeps of rows whose entries have all left their window (one unref'd timer). Default 300; 0 disables the timer. */
  readonly sweepInterval?: number;
  /** Clock of the sweeper. Default: the system clock. */
  readonly clock?: Clock;
  /** Background failures (a sweep that failed). Default: ignored; rows only linger until the next sweep. */
  readonly onError?: (error: unknown) => void;
}

interface HitsRow extends SqlRow {
  /** `array_to_json(hits)::text`: a driver needs no array type to read it (postgres' `fetch_types: false`). */
  readonly hits?: string | null;
  readonly allowed?: boolean;
}

/** The row's entries, oldest first; ms timestamps fit a double exactly. */
function times(row: HitsRow | undefined): number[] {
  const hits: unknown = typeof row?.hits === 'string' ? JSON.parse(row.hits) : [];
  return (Array.isArray(hits) ? hits.map(Number) : []).sort((a, b) => a - b);
}

/**
 * Rate-limit counters in PostgreSQL (through `pg`) or PGlite: one row per key
 * holding the times of its newest entries (`bigint[]`, at most `limit`), so a
 * key costs one row however many attempts it sees. `consume` is one
 * `INSERT … ON CONFLICT DO UPDATE`: the row lock it takes serialises
 * concurrent calls on a key, so they never admit more than the limit, without
 * a transaction or a pinned connection. Call `migrate()` once at startup.
 */
export class PostgresRateLimitStore implements RateLimitStore {
  private readonly client: SqlClient;
  private readonly schema: string | undefined;
  private readonly tableName: string;
  private readonly table: string;
  private readonly clock: Clock;
  private readonly timer: NodeJS.Timeout | undefined;
  private readonly sql: { readonly consume: string; readonly release: string };

  constructor(options: PostgresRateLimitStoreOptions) {
    if (typeof options?.client?.query !== 'function') {
      throw new InvalidOptionsError('keycard/postgres: client is required: pgPoolClient(pool), postgresJsClient(sql) or pgliteClient(db)');
    }
    this.client = options.client;
    this.tableName = identifier('rate-limit table', options.table ?? 'keycard_rate_limits', 40);
    this.schema = options.schema === undefined ? undefined : identifier('rate-limit schema', options.schema, 63);
    this.table = this.schema === undefined ? `"${this.tableName}"` : `"${this.schema}"."${this.tableName}"`;
    this.clock = options.clock ?? systemClock;
    const onError = options.onError ?? (() => undefined);
    const t = this.table;
    // $1 key, $2 now, $3 windowMs, $4 limit. `kept` is the row's entries still
    // in the window, newest `limit` of them; `allowed` is decided on the same
    // locked row, so it is what this call did. A new key is always allowed.
    const kept = `(SELECT coalesce(array_agg(h ORDER BY h), '{}'::bigint[]) FROM (
        SELECT h FROM unnest(r.hits) AS h WHERE h > $2::bigint - $3::bigint ORDER BY h DESC LIMIT $4::int) AS w)`;
    this.sql = {
      consume: `INSERT INTO ${t} AS r (key, hits, expires_at, allowed)
        VALUES ($1, ARRAY[$2::bigint], $2::bigint + $3::bigint, true)
        ON CONFLICT (key) DO UPDATE SET
          allowed = cardinality(${kept}) < $4::int,
          hits = CASE WHEN cardinality(${kept}) < $4::int THEN ${kept} || $2::bigint ELSE ${kept} END,
          expires_at = GREATEST(r.expires_at, CASE WHEN cardinality(${kept}) < $4::int
            THEN $2::bigint + $3::bigint ELSE r.expires_at END)
        RETURNING array_to_json(hits)::text AS hits, allowed`,
      // array_position finds the first entry at exactly $2; the slices drop that one element.
      release: `UPDATE ${t} SET hits = hits[:array_position(hits, $2::bigint) - 1] || hits[array_position(hits, $2::bigint) + 1:]
        WHERE key = $1 AND $2::bigint = ANY(hits) RETURNING key`,
    };
    // A failed sweep is retried at the next tick; rows only linger.
    this.timer = sweepEvery(sweepIntervalOption('PostgresRateLimitStore', options.sweepInterval, 300), () => this.sweep().catch(onError));
  }

  /**
   * Creates the table and its sweep index if they do not exist. Idempotent and
   * safe to run from several processes at once (two concurrent `CREATE TABLE IF
   * NOT EXISTS` can otherwise collide in the catalog): one DO block, one
   * transaction, serialised by an advisory lock named after the table. Run it
   * at startup, or copy the statements into your own migrations.
   */
  async migrate(): Promise<void> {
    // Identifiers are validated lowercase names, so they are safe to splice in here.
    const lockKey = `keycard:${this.schema ?? ''}.${this.tableName}`;
    await this.client.query(`DO $migrate$ BEGIN
      PERFORM pg_advisory_xact_lock(hashtext('${lockKey}'));
      ${this.schema === undefined ? '' : createSchemaStatement(this.schema)}
      CREATE TABLE IF NOT EXISTS ${this.table} (
        key text PRIMARY KEY,
        hits bigint[] NOT NULL,
        expires_at bigint NOT NULL,
        -- What the last consume decided, so that RETURNING can tell the caller.
        allowed boolean NOT NULL DEFAULT true
      );
      CREATE INDEX IF NOT EXISTS "${this.tableName}_expires_idx" ON ${this.table} (expires_at);
    END $migrate$`, []);
  }

  /** Deletes rows whose every entry has left its window at `now`; returns how many. */
  async sweep(now = this.clock.now()): Promise<number> {
    const result = await this.client.query(
      `WITH gone AS (DELETE FROM ${this.table} WHERE expires_at <= $1 RETURNING 1) SELECT count(*)::int AS n FROM gone`,
      [now],
    );
    return Number(result.rows[0]?.['n'] ?? 0);
  }

  async consume(key: string, now: number, rule: RateLimitRule): Promise<RateLimitResult> {
    const result = await this.client.query(this.sql.consume, [key, now, rule.windowMs, rule.limit]);
    const row = result.rows[0] as HitsRow | undefined;
    const hits = times(row);
    return { allowed: row?.allowed === true, count: hits.length, oldestAt: hits[0] ?? null };
  }

  async peek(key: string, now: number, rule: RateLimitRule): Promise<RateLimitState> {
    const result = await this.client.query(`SELECT array_to_json(hits)::text AS hits FROM ${this.table} WHERE key = $1`, [key]);
    return windowState(times(result.rows[0] as HitsRow | undefined), now, rule).state;
  }

  async release(key: string, at: number): Promise<boolean> {
    const result = await this.client.query(this.sql.release, [key, at]);
    return result.rows.length > 0;
  }

  async reset(key: string): Promise<void> {
    await this.client.query(`DELETE FROM ${this.table} WHERE key = $1`, [key]);
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
  }
}
