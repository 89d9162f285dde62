import { systemClock, type Clock } from '../core/clock.js';
import {
  InvalidOptionsError,
  SessionExistsError,
  StoreUnavailableError,
  UnsupportedOperationError,
} from '../core/errors.js';
import type { Principal, SessionPatch, SessionRecord } from '../core/record.js';
import type { SessionStore } from '../core/store.js';
import { InvalidationSinks, type StoreCoherence } from '../core/coherence.js';
import { buildMigration, tableNames, type TableNames } from './schema.js';
import type { SqlClient, SqlRow, SqlValue } from './sql-client.js';
import { insertParams, millisParam, statements, toRecord } from './session-sql.js';
import { RevocationListeners, refreshedMessage, storeFailure, sweepIntervalOption, type RevocationListener } from '../core/store-support.js';
import { sweepEvery } from '../core/sweep.js';
import { IDS_PER_NOTIFY, PgInvalidationFeed, invalidationChannel } from './invalidation.js';

export interface PostgresStoreOptions {
  /** How to reach the database: `pgPoolClient(pool)` or `pgliteClient(db)`. The store never closes it. */
  readonly client: SqlClient;
  /** Default `keycard_sessions`. A lowercase SQL identifier of at most 40 characters. */
  readonly table?: string;
  /** Default: the connection's `search_path`. Created by the migration when missing. */
  readonly schema?: string;
  /**
   * Create the table and its indexes (idempotent) before the first operation.
   * A failed migration (database down at boot) is retried by the next
   * operation, so the store starts working by itself once the database does.
   * Default false: run `migrate()` from a deploy step instead.
   */
  readonly migrate?: boolean;
  /**
   * NOTIFY channel for revocations. Default `<table>_revoked` (`<schema>_<table>_revoked` with a schema).
   * The session cache's invalidations go on `<channel>_inv` (the channel cut to 59 characters).
   */
  readonly channel?: string;
  /** Seconds between sweeps of expired rows (one unref'd timer). Default 60; 0 disables the timer. */
  readonly sweepInterval?: number;
  /** Clock of the sweep and of `refreshPrincipal`'s liveness check. Default: the system clock. */
  readonly clock?: Clock;
  /** Background failures (a sweep that failed). Default: ignored; the next operation reports an outage. */
  readonly onError?: (error: unknown) => void;
  /** Called after each background sweep with the number of rows removed (metrics). */
  readonly onSwept?: (removed: number) => void;
}


interface Subscription {
  readonly ready: Promise<() => Promise<void>>;
}

/** Rows per sweep statement, so a backlog never holds one long lock. */
const SWEEP_BATCH = 1000;
/**
 * Handles per NOTIFY: a payload must stay under 8000 bytes, and a handle
 * takes about 25 in a JSON array. A larger `revokeAll` sends several.
 */
const NOTIFY_CHUNK = 200;

/**
 * Sessions in PostgreSQL (through `pg` or `postgres`) or in embedded PGlite, one row per
 * session. Every contract method is a single statement, so each is atomic
 * without a transaction: `find` touches in a CTE, `update` merges only the
 * changed keys with `jsonb ||` and `-`, `rotate` deletes and inserts in one
 * statement (the insert happens only if the delete found the row), and
 * revocations are published with `pg_notify` inside the deleting statement, so
 * they go out exactly when the delete commits.
 *
 * Expired rows are returned untouched by `find` (the manager reports and
 * destroys them), skipped by `listByUser` and `refreshPrincipal`, and deleted
 * by a periodic sweep.
 *
 * Limits: values in session data cannot contain the character U+0000 (jsonb
 * rejects it); revocations published while a LISTEN connection was being
 * re-established are not delivered (see the adapters' `onReconnect`).
 */
export class PostgresStore implements SessionStore {
  readonly names: TableNames;
  private readonly client: SqlClient;
  private readonly clock: Clock;
  private readonly onError: (error: unknown) => void;
  private readonly onSwept: ((removed: number) => void) | undefined;
  private readonly autoMigrate: boolean;
  private readonly timer: NodeJS.Timeout | undefined;
  private readonly listeners = new RevocationListeners();
  private readonly sinks = new InvalidationSinks();
  /**
   * On embedded PGlite this process owns the database, and every change goes
   * through this object: exact (`exclusive`), reported before each changing
   * call resolves. On a PostgreSQL server other processes write too: their
   * changes arrive by NOTIFY some time after they commit (`after-commit`,
   * so the cache is off unless `acceptDelayedInvalidation`; see
   * docs/session-cache.md). A client without LISTEN: no coherence, no cache.
   */
  readonly coherence: StoreCoherence | undefined;
  private readonly feed: PgInvalidationFeed | null;
  private readonly invalidations: string;
  /** Probes in flight (`probeRevocations`): nonce → what to call when it comes back. */
  private subscription: Subscription | null = null;
  private migrated = false;
  private migration: Promise<void> | null = null;
  private sweeping: Promise<unknown> | null = null;
  private readonly sql: ReturnType<typeof statements>;

  constructor(options: PostgresStoreOptions) {
    if (typeof options?.client?.query !== 'function') {
      throw new InvalidOptionsError('keycard/postgres: client is required: pgPoolClient(pool), postgresJsClient(sql) or pgliteClient(db)');
    }
    this.names = tableNames(options);
    this.client = options.client;
    this.clock = options.clock ?? systemClock;
    this.onError = options.onError ?? (() => undefined);
    this.onSwept = options.onSwept;
    this.autoMigrate = options.migrate ?? false;
    this.sql = statements(this.names);
    this.invalidations = invalidationChannel(this.names.channel);
    const shared = options.client.exclusive !== true && typeof options.client.listen === 'function';
    const feed = shared ? new PgInvalidationFeed(options.client, this.invalidations) : null;
    this.feed = feed;
    this.coherence =
      options.client.exclusive === true
        ? {
            mode: 'exclusive',
            subscribe: (sink) => this.sinks.subscribe(sink),
          }
        : feed === null
          ? undefined
          : { mode: 'after-commit', subscribe: (sink) => feed.subscribe(sink), current: () => feed.current() };
    this.timer = sweepEvery(sweepIntervalOption('PostgresStore', options.sweepInterval, 60), () => this.backgroundSweep());
  }

  /** Creates the table and indexes when missing; safe to run concurrently from several processes. */
  async migrate(): Promise<void> {
    try {
      await this.client.query(buildMigration(this.names), []);
    } catch (error) {
      throw new StoreUnavailableError('postgres session store could not apply its migration', { cause: error });
    }
    this.migrated = true;
  }

  /** Deletes the rows expired at `now` (default: the clock's), in batches; returns how many. */
  async sweep(now = this.clock.now()): Promise<number> {
    let total = 0;
    for (;;) {
      const rows = await this.run('sweep', this.sql.sweep, [millisParam(now), SWEEP_BATCH]);
      const removed = Number(rows[0]?.['removed'] ?? 0);
      total += removed;
      if (removed < SWEEP_BATCH) return total;
    }
  }

  async find(id: string, now: number, touchInterval: number): Promise<SessionRecord | null> {
    const rows = Number.isFinite(touchInterval)
      ? await this.run('find', this.sql.findAndTouch, [id, millisParam(now), millisParam(Math.max(0, Math.ceil(touchInterval)))])
      : await this.run('find', this.sql.find, [id]);
    const row = rows[0];
    return row ? toRecord(row) : null;
  }

  async create(record: SessionRecord): Promise<void> {
    await this.run('create', this.sql.create, insertParams(record));
  }

  async update(id: string, patch: SessionPatch): Promise<boolean> {
    const rows = await this.changing(id, 'update', this.sql.update, [
      id,
      JSON.stringify(patch.set ?? {}),
      JSON.stringify(patch.unset ?? []),
      patch.rotationDue ?? null,
      this.invalidations,
    ]);
    return rows.length > 0;
  }

  async rotate(oldId: string, next: SessionRecord): Promise<boolean> {
    const rows = await this.changing(oldId, 'rotate', this.sql.rotate, [...insertParams(next), oldId, this.invalidations]);
    return rows.length > 0;
  }

  async destroy(id: string): Promise<boolean> {
    const rows = await this.changing(id, 'destroy', this.sql.destroy, [id, this.names.channel, this.invalidations]);
    return rows.length > 0;
  }

  async listByUser(userId: string, now: number): Promise<SessionRecord[]> {
    const rows = await this.run('listByUser', this.sql.listByUser, [userId, millisParam(now)]);
    return rows.map(toRecord);
  }

  async revokeAll(userId: string, exceptId?: string): Promise<string[]> {
    const rows = await this.run('revokeAll', this.sql.revokeAll, [
      userId,
      exceptId ?? null,
      this.names.channel,
      NOTIFY_CHUNK,
      this.invalidations,
      IDS_PER_NOTIFY,
    ]);
    this.changed(rows.flatMap((row) => (typeof row['id'] === 'string' ? [row['id']] : [])));
    return rows.flatMap((row) => (typeof row['handle'] === 'string' ? [row['handle']] : []));
  }

  async refreshPrincipal(principal: Principal): Promise<number> {
    const rows = await this.run('refreshPrincipal', this.sql.refreshPrincipal, [
      principal.id,
      JSON.stringify(principal),
      millisParam(this.clock.now()),
      this.invalidations,
      IDS_PER_NOTIFY,
    ]);
    const ids = rows.flatMap((row) => (typeof row['id'] === 'string' ? [row['id']] : []));
    this.changed(ids);
    // Open sockets of the user re-read their roles now (SocketRegistry), on every instance.
    if (ids.length > 0) await this.run('refreshPrincipal', 'SELECT pg_notify($1, $2)', [this.names.channel, refreshedMessage(principal.id)]);
    return ids.length;
  }

  async onRevoked(listener: RevocationListener): Promise<() => Promise<void>> {
    const remove = this.listeners.add(listener);
    try {
      await this.subscribe().ready;
    } catch (error) {
      remove();
      throw storeFailure(error, 'postgres session store could not LISTEN for revocations');
    }
    let subscribed = true;
    return async () => {
      if (!subscribed) return;
      subscribed = false;
      remove();
      if (this.listeners.size === 0) await this.unsubscribe();
    };
  }

  async ping(): Promise<void> {
    await this.run('ping', 'SELECT 1', []);
  }

  async probeRevocations(timeoutMs: number): Promise<'up' | 'off'> {
    const subscription = this.subscription;
    if (this.listeners.size === 0 || !subscription) return 'off';
    await subscription.ready;
    await this.listeners.probe(
      timeoutMs,
      (message) => this.run('probeRevocations', 'SELECT pg_notify($1, $2)', [this.names.channel, message]),
      'postgres session store',
      'LISTEN lost',
    );
    return 'up';
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.listeners.clear();
    await Promise.all([this.unsubscribe(), this.feed?.close().catch(this.onError), this.sweeping?.catch(() => undefined)]);
  }

  private subscribe(): Subscription {
    if (this.subscription) return this.subscription;
    const listen = this.client.listen?.bind(this.client);
    if (!listen) {
      throw new UnsupportedOperationError(
        'keycard/postgres: this SqlClient has no listen(); onRevoked needs LISTEN/NOTIFY (pgPoolClient, postgresJsClient or pgliteClient)',
      );
    }
    const subscription: Subscription = {
      ready: listen(this.names.channel, (payload) => {
        // A subscription being torn down may still deliver; only the current one speaks.
        if (this.subscription === subscription) this.listeners.deliver(payload);
      }),
    };
    this.subscription = subscription;
    // A failed LISTEN is forgotten, so that the next onRevoked tries again.
    subscription.ready.catch(() => {
      if (this.subscription === subscription) this.subscription = null;
    });
    return subscription;
  }

  private async unsubscribe(): Promise<void> {
    const subscription = this.subscription;
    if (!subscription) return;
    this.subscription = null;
    try {
      await (await subscription.ready)();
    } catch (error) {
      this.onError(error);
    }
  }

  private backgroundSweep(): void {
    if (this.sweeping) return;
    this.sweeping = this.sweep()
      .then(
        (removed) => this.onSwept?.(removed),
        (error: unknown) => this.onError(error),
      )
      .finally(() => {
        this.sweeping = null;
      });
  }

  /** A statement that changes or deletes the row `id`: reported to the feed whatever its outcome (it may have committed). */
  private async changing(id: string, what: string, text: string, params: SqlValue[]): Promise<readonly SqlRow[]> {
    try {
      return await this.run(what, text, params);
    } finally {
      this.changed([id]);
    }
  }

  private changed(ids: readonly string[]): void {
    if (ids.length === 0) return;
    this.sinks.invalidate(ids);
  }

  private async run(what: string, text: string, params: SqlValue[]): Promise<readonly SqlRow[]> {
    if (this.autoMigrate && !this.migrated) await this.ensureMigrated();
    try {
      return (await this.client.query(text, params)).rows;
    } catch (error) {
      // 23505: unique_violation; only the primary key can raise it, in create and rotate.
      if (sqlState(error) === '23505') throw new SessionExistsError();
      throw storeFailure(error, `postgres session store failed during ${what}`);
    }
  }

  private ensureMigrated(): Promise<void> {
    this.migration ??= this.migrate().catch((error: unknown) => {
      this.migration = null;
      throw error;
    });
    return this.migration;
  }
}

function sqlState(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}
