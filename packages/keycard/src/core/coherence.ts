/**
 * How a record cached in this process learns that the store changed it: the
 * one thing a store must tell the core for the session cache to be safe.
 * See docs/session-cache.md.
 */

/**
 * - `exclusive`: this process is the only writer of the data (the memory
 *   store, PostgreSQL on embedded PGlite), so invalidating on its own writes
 *   is exact.
 * - `in-write`: every write also publishes the ids it changed, atomically with
 *   the write, ahead of the writer's reply (Redis: from inside the Lua script).
 * - `after-commit`: the ids are published when the write commits, and reach
 *   other processes some time after the writer was answered (PostgreSQL
 *   NOTIFY): there is a window, so the cache is off unless asked for.
 */
export type CoherenceMode = 'exclusive' | 'in-write' | 'after-commit';

/** Where a store's invalidation feed delivers. Each method must be cheap and must not throw. */
export interface InvalidationSink {
  /** These session ids were changed, rotated away or deleted by some process. */
  invalidate(ids: readonly string[]): void;
  /** The feed broke (connection lost, re-subscribing): anything may have changed unseen. */
  lost(): void;
  /** The feed is connected and current again. */
  restored(): void;
}

export interface StoreCoherence {
  readonly mode: CoherenceMode;
  /**
   * Starts delivering invalidations from other processes (and, for a store
   * that drops records by itself, its own evictions). Resolves once the feed
   * is live, to a function that stops it. Absent for an `exclusive` store
   * that never drops a record behind the caller's back.
   */
  subscribe?(sink: InvalidationSink): Promise<() => Promise<void>>;
  /**
   * Asked on every cache hit: false while the feed is late (its last
   * heartbeat answered too long ago), when a hit could miss a write that is
   * still on its way; the read then goes to the store. Absent: always current.
   */
  current?(): boolean;
}

/** Milliseconds between the heartbeats of a store's invalidation feed (Redis, PostgreSQL). */
export const FEED_HEARTBEAT_MS = 100;
/** A feed is current while its last answered heartbeat was sent at most this long ago. */
export const FEED_MAX_LAG_MS = 500;

/**
 * The caches subscribed to one store's feed (every store that feeds them
 * keeps one of these), with the feed's start shared by them: `subscribe`
 * starts it once for every sink, and again after a start that failed.
 */
export class InvalidationSinks {
  private readonly sinks = new Set<InvalidationSink>();
  private starting: Promise<void> | null = null;

  /** Adds `sink`; with `start`, resolves once the feed it starts is live. Resolves to the function that removes the sink. */
  async subscribe(sink: InvalidationSink, start?: () => Promise<void>): Promise<() => Promise<void>> {
    this.sinks.add(sink);
    if (start) {
      try {
        this.starting ??= start();
        await this.starting;
      } catch (error) {
        this.sinks.delete(sink);
        this.starting = null;
        throw error;
      }
    }
    return async () => {
      this.sinks.delete(sink);
    };
  }

  invalidate(ids: readonly string[]): void {
    for (const sink of this.sinks) sink.invalidate(ids);
  }

  lost(): void {
    for (const sink of this.sinks) sink.lost();
  }

  restored(): void {
    for (const sink of this.sinks) sink.restored();
  }

  clear(): void {
    this.sinks.clear();
  }
}
