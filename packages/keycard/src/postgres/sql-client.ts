/**
 * The one query interface the PostgreSQL store speaks, and its three adapters
 * (`pg`, `postgres` and PGlite). The driver types below are structural on
 * purpose: this module never imports `pg`, `postgres` or
 * `@electric-sql/pglite`, not even as types, so `keycard/postgres` loads (and
 * type-checks) with only one of them installed.
 */
import { createHash } from 'node:crypto';

/**
 * A bound parameter. No arrays: lists go as JSON text (`$n::text::jsonb`), so
 * that no statement needs the driver to know array types (`postgres` can then
 * run with `fetch_types: false`, see postgresJsClient).
 */
export type SqlValue = string | number | boolean | null;

export type SqlRow = Readonly<Record<string, unknown>>;

/**
 * A PGlite instance fits this interface as it is (LISTEN included), and so
 * does a `pg` Pool (without LISTEN); the adapters below add what each lacks.
 */
export interface SqlClient {
  /**
   * Runs one statement with `$1…$n` parameters and resolves to its rows.
   * (`params` is a mutable array type only so that the drivers' own `query`
   * methods, which declare `any[]`, fit this signature.)
   */
  query(text: string, params: SqlValue[]): Promise<{ readonly rows: readonly SqlRow[] }>;
  /**
   * Calls `onPayload` with each NOTIFY payload on `channel` (a lowercase SQL
   * identifier). Resolves once LISTEN is in effect, to a function that stops
   * listening. Optional: without it the store cannot publish revocations
   * across processes and `onRevoked` rejects.
   */
  listen?(channel: string, onPayload: (payload: string) => void, events?: ListenEvents): Promise<() => Promise<void>>;
  /**
   * True when this process is the only one that can reach the database
   * (embedded PGlite): the store's changes then all go through this process,
   * which makes the session cache exact. Default false.
   */
  readonly exclusive?: boolean;
}

/**
 * What a listener is told about its LISTEN connection after `listen` resolved.
 * `pgPoolClient` reports a loss the moment its connection errors or ends;
 * `postgresJsClient` only when the driver has re-subscribed (the driver says
 * nothing earlier), as `lost` and `restored` back to back. The session cache's
 * heartbeat (postgres/invalidation.ts) bounds what either leaves unreported.
 */
export interface ListenEvents {
  /** The connection was lost: notifications are being missed until `restored`. */
  lost(): void;
  /** LISTEN is in effect again on a new connection. */
  restored(): void;
}

// ——— pg ———

/** The part of a `pg` (8.x) `PoolClient` the LISTEN connection uses. */
export interface PgListenClientLike {
  query(text: string): Promise<unknown>;
  on(event: 'notification', listener: (message: { channel: string; payload?: string | undefined }) => void): unknown;
  on(event: 'error', listener: (error: Error) => void): unknown;
  on(event: 'end', listener: () => void): unknown;
  /** `release(true)` or `release(error)` closes the connection instead of returning it to the pool. */
  release(destroy?: Error | boolean): void;
}

/** A named statement (pg's `QueryConfig`): parsed and planned once per connection, then only bound and executed. */
export interface PgNamedQuery {
  readonly name: string;
  readonly text: string;
  readonly values: unknown[];
}

/** The part of a `pg` (8.x) `Pool` the adapter uses; a real `pg.Pool` fits. */
export interface PgPoolLike {
  query(text: string, values?: unknown[]): Promise<{ rows: unknown[] }>;
  query(config: PgNamedQuery): Promise<{ rows: unknown[] }>;
  connect(): Promise<PgListenClientLike>;
  on(event: 'error', listener: (error: Error) => void): unknown;
  listenerCount?(event: 'error'): number;
}

export interface PgPoolClientOptions {
  /**
   * Failures nobody awaits: the LISTEN connection dropping, a reconnection
   * attempt failing, an idle pool client erroring (see below). Default: ignored,
   * since the next query reports the outage anyway.
   */
  readonly onError?: (error: unknown) => void;
  /**
   * Called each time LISTEN is re-established after its connection was lost.
   * Revocations published during the gap were not delivered; a listener that
   * must not miss any (WebSocket disconnects) can re-check its sessions here.
   */
  readonly onReconnect?: () => void;
  /** Milliseconds before the first reconnection attempt; doubles up to `maxRetryDelay`. Default 100. */
  readonly retryDelay?: number;
  /** Default 5000. */
  readonly maxRetryDelay?: number;
  /**
   * Send keycard's statements as named prepared statements (each parsed and
   * planned once per pooled connection; cheaper per query, see
   * BENCHMARKS.md "pg-read"). Default true. Turn it off behind a pooler that
   * cannot keep them (PgBouncer in transaction mode before 1.21, or without
   * `max_prepared_statements`).
   */
  readonly prepare?: boolean;
}

/** Distinct statement texts that get a name; past it (texts keycard does not send), statements stay unnamed. */
const MAX_NAMED = 64;

/** Statement names by text: a hash, so that one name never stands for two texts on a connection. */
function statementNamer(): (text: string) => string | null {
  const names = new Map<string, string>();
  return (text) => {
    let name = names.get(text);
    if (name === undefined) {
      if (names.size >= MAX_NAMED) return null;
      name = `keycard_${createHash('sha256').update(text).digest('hex').slice(0, 24)}`;
      names.set(text, name);
    }
    return name;
  };
}

/**
 * Adapts a `pg` Pool. Queries go through `pool.query`; LISTEN holds one
 * dedicated connection from `pool.connect()` for as long as someone listens,
 * and re-establishes it (with backoff, on an unref'd timer) after errors.
 *
 * pg emits `error` on the pool when an idle connection dies (a server restart);
 * with no listener that event would crash the process, so when the pool has
 * none, this adapter adds one that forwards to `onError`.
 */
export function pgPoolClient(pool: PgPoolLike, options: PgPoolClientOptions = {}): SqlClient {
  const onError = options.onError ?? (() => undefined);
  if (typeof pool.listenerCount === 'function' && pool.listenerCount('error') === 0) pool.on('error', onError);
  const nameOf = options.prepare === false ? () => null : statementNamer();
  return {
    async query(text, params) {
      // Parameterless texts (the migration) run once: not worth a prepared statement per connection.
      const name = params.length === 0 ? null : nameOf(text);
      const result = name === null ? await pool.query(text, [...params]) : await pool.query({ name, text, values: [...params] });
      return { rows: result.rows as SqlRow[] };
    },
    listen: (channel, onPayload, events) => listenOnPool(pool, assertChannel(channel), onPayload, options, events),
  };
}

interface Connection {
  readonly client: PgListenClientLike;
  released: boolean;
}

async function listenOnPool(
  pool: PgPoolLike,
  channel: string,
  onPayload: (payload: string) => void,
  options: PgPoolClientOptions,
  events: ListenEvents | undefined,
): Promise<() => Promise<void>> {
  const onError = options.onError ?? (() => undefined);
  const firstDelay = options.retryDelay ?? 100;
  const maxDelay = options.maxRetryDelay ?? 5000;
  let stopped = false;
  let current: Connection | null = null;
  let timer: NodeJS.Timeout | undefined;
  let delay = firstDelay;

  const release = (connection: Connection, error?: Error): void => {
    if (connection.released) return;
    connection.released = true;
    if (current === connection) current = null;
    try {
      connection.client.release(error ?? true);
    } catch (releaseError) {
      onError(releaseError);
    }
  };

  const lost = (connection: Connection, error?: Error): void => {
    // Only an established connection reconnects: a failure while LISTEN is pending rejects `connect` instead.
    const established = current === connection;
    release(connection, error);
    if (!established || stopped) return;
    events?.lost();
    onError(error ?? new Error(`LISTEN connection for ${channel} ended`));
    schedule();
  };

  const connect = async (): Promise<void> => {
    const client = await pool.connect();
    const connection: Connection = { client, released: false };
    client.on('error', (error) => lost(connection, error));
    client.on('end', () => lost(connection));
    client.on('notification', (message) => {
      // A released connection closes asynchronously: what it still reads after `stop` resolved is not delivered.
      if (connection.released || stopped) return;
      if (message.channel === channel && typeof message.payload === 'string') onPayload(message.payload);
    });
    try {
      await client.query(`LISTEN "${channel}"`);
    } catch (error) {
      release(connection, error instanceof Error ? error : undefined);
      throw error;
    }
    if (stopped) {
      release(connection);
      return;
    }
    current = connection;
  };

  const schedule = (): void => {
    if (stopped || timer) return;
    timer = setTimeout(() => {
      timer = undefined;
      connect().then(
        () => {
          delay = firstDelay;
          if (stopped) return;
          events?.restored();
          options.onReconnect?.();
        },
        (error: unknown) => {
          onError(error);
          delay = Math.min(delay * 2, maxDelay);
          schedule();
        },
      );
    }, delay);
    timer.unref();
  };

  await connect();
  return async () => {
    stopped = true;
    if (timer) clearTimeout(timer);
    timer = undefined;
    // Closing the connection ends the LISTEN; returning it to the pool would need an UNLISTEN round trip first.
    if (current) release(current);
  };
}

// ——— postgres (porsager) ———

/** The part of a `postgres` (3.x) `Sql` instance the adapter uses; what `postgres(url)` returns fits. */
export interface PostgresJsSqlLike {
  unsafe(query: string, parameters: SqlValue[], options: { readonly prepare: boolean }): PromiseLike<readonly unknown[]>;
  /** Resolves once LISTEN is in effect. (What it resolves to, with its `unlisten`, is not used: see PostgresJsChannel.) */
  listen(channel: string, onnotify: (payload: string) => void, onlisten: () => void): PromiseLike<unknown>;
}

export interface PostgresJsClientOptions {
  /**
   * Called each time the driver has re-established LISTEN after its
   * connection was lost. Revocations published during the gap were not
   * delivered; a listener that must not miss any (WebSocket disconnects) can
   * re-check its sessions here.
   */
  readonly onReconnect?: () => void;
}

/**
 * Adapts a `postgres` (porsager) instance. Statements with parameters are
 * sent as prepared statements (`unsafe(text, params, { prepare: true })`:
 * parsed and planned once per connection; `postgres(url, { prepare: false })`
 * still turns that off, behind a pooler that cannot keep them). Parameterless
 * texts (the migration) use the simple protocol, which allows several
 * statements in one text.
 *
 * No statement binds or reads an array, so the driver may run with
 * `fetch_types: false` — advised: with its default, a connection cut while it
 * fetches the array types leaves a rejection nobody holds (postgres 3.4.9).
 *
 * LISTEN goes through `sql.listen`, which holds one dedicated connection of
 * its own and re-subscribes by itself after losing it. The driver tells
 * nothing of the loss, only of each re-subscription (`onlisten`), so that is
 * when this adapter reports the gap: `lost` then `restored` at once, which
 * flushes the session cache. Until then (a few milliseconds when the server
 * is reachable; longer when it is not) a cache on this client relies on the
 * feed's heartbeat, which stops serving from memory once no heartbeat has
 * been heard for the lag bound (docs/session-cache.md).
 */
export function postgresJsClient(sql: PostgresJsSqlLike, options: PostgresJsClientOptions = {}): SqlClient {
  const channels = new Map<string, PostgresJsChannel>();
  return {
    async query(text, params) {
      const rows = await sql.unsafe(text, [...params], { prepare: params.length > 0 });
      return { rows: rows as readonly SqlRow[] };
    },
    listen(channel, onPayload, events) {
      const name = assertChannel(channel);
      let shared = channels.get(name);
      if (shared === undefined) {
        shared = new PostgresJsChannel(sql, name, options);
        channels.set(name, shared);
      }
      return shared.add(onPayload, events);
    },
  };
}

/**
 * How long a `listen` waits for the driver to re-subscribe a channel whose
 * first LISTEN failed before it rejects (the caller retries: the session
 * cache every second, `onRevoked`'s callers as they choose).
 */
const POSTGRES_JS_LISTEN_WAIT_MS = 2000;

interface PostgresJsListener {
  readonly onPayload: (payload: string) => void;
  readonly events: ListenEvents | undefined;
}

/**
 * One `sql.listen` per channel for the life of the client, shared by every
 * listener of that channel. The driver cannot drop a listener reliably (3.4.9,
 * src/index.js): one whose first LISTEN failed stays registered and is
 * re-subscribed in the background whenever the listen connection closes, and
 * after a reconnection `unlisten` removes nothing. Registering one per call
 * would pile them up (one per retry while the database is down, each called
 * on every notification); so this registers one, never more, keeps LISTEN in
 * effect until `sql.end()`, and delivers only to the listeners it holds.
 */
class PostgresJsChannel {
  private readonly listeners = new Set<PostgresJsListener>();
  /** The driver's registration; rejected if its first LISTEN failed (the driver then retries it by itself). */
  private registration: Promise<unknown> | null = null;
  /** Whether the driver has said LISTEN is in effect (`onlisten`) at least once. It never says when it stops being. */
  private listening = false;
  private readonly waiting = new Set<() => void>();

  constructor(
    private readonly sql: PostgresJsSqlLike,
    private readonly channel: string,
    private readonly options: PostgresJsClientOptions,
  ) {}

  async add(onPayload: (payload: string) => void, events: ListenEvents | undefined): Promise<() => Promise<void>> {
    await this.inEffect();
    const listener: PostgresJsListener = { onPayload, events };
    this.listeners.add(listener);
    return async () => {
      this.listeners.delete(listener);
    };
  }

  private async inEffect(): Promise<void> {
    if (this.listening) return;
    if (this.registration === null) {
      this.registration = Promise.resolve(
        this.sql.listen(
          this.channel,
          (payload) => this.deliver(payload),
          () => this.subscribed(),
        ),
      );
      await this.registration;
      return;
    }
    await this.nextSubscription();
  }

  /** Resolves at the driver's next `onlisten`; rejects after the wait bound. */
  private nextSubscription(): Promise<void> {
    return new Promise((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer);
        this.waiting.delete(done);
        resolve();
      };
      const timer = setTimeout(() => {
        this.waiting.delete(done);
        reject(new Error(`LISTEN ${this.channel} is not in effect: the postgres driver has not re-subscribed within ${POSTGRES_JS_LISTEN_WAIT_MS} ms`));
      }, POSTGRES_JS_LISTEN_WAIT_MS);
      timer.unref();
      this.waiting.add(done);
    });
  }

  private deliver(payload: string): void {
    for (const listener of this.listeners) listener.onPayload(payload);
  }

  private subscribed(): void {
    this.listening = true;
    for (const done of this.waiting) done();
    if (this.listeners.size === 0) return;
    // The driver re-subscribed after losing its connection and said nothing of the loss: what was sent meanwhile was missed.
    for (const listener of this.listeners) {
      listener.events?.lost();
      listener.events?.restored();
    }
    this.options.onReconnect?.();
  }
}

// ——— PGlite ———

/** The part of a PGlite instance the adapter uses; `PGlite.create()` gives one that fits. */
export interface PGliteLike {
  query(text: string, params?: unknown[]): Promise<{ rows: unknown[] }>;
  listen(channel: string, callback: (payload: string) => void): Promise<() => Promise<void>>;
}

/** Adapts an embedded PGlite database (one connection, LISTEN/NOTIFY in-process). */
export function pgliteClient(db: PGliteLike): SqlClient {
  return {
    // PGlite's data directory cannot be opened by a second process.
    exclusive: true,
    async query(text, params) {
      const result = await db.query(text, [...params]);
      return { rows: result.rows as SqlRow[] };
    },
    async listen(channel, onPayload) {
      const unlisten = await db.listen(assertChannel(channel), onPayload);
      return () => unlisten();
    },
  };
}

/** Channel names go into LISTEN unquoted by PGlite, so only plain lowercase identifiers are safe on both drivers. */
const CHANNEL = /^[a-z_][a-z0-9_]{0,62}$/;

function assertChannel(channel: string): string {
  if (!CHANNEL.test(channel)) throw new TypeError(`invalid LISTEN channel ${JSON.stringify(channel)}`);
  return channel;
}
