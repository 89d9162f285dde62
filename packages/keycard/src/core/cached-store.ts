import type { InvalidationSink } from './coherence.js';
import type { CacheLookup } from './observe.js';
import type { Principal, SessionPatch, SessionRecord } from './record.js';
import { isLive, touchDue } from './record.js';
import type { SessionCache } from './session-cache.js';
import type { RevocationListener, SessionStore, StoreSettings } from './store.js';

/** Whether the invalidation feed lets the cache answer: `lost` also forbids filling it. */
type FeedState = 'live' | 'lost';

/** Seconds between attempts to start a feed that failed to start (store down at boot). */
const RESUBSCRIBE_MS = 1000;

let turn: Promise<void> | null = null;

/**
 * Resolves in the check phase of this event-loop turn, after every socket
 * that was readable in this poll has been processed (the invalidation feed's
 * included). One promise for all the hits of a turn.
 */
function nextTurn(): Promise<void> {
  turn ??= new Promise((resolve) => {
    setImmediate(() => {
      turn = null;
      resolve();
    });
  });
  return turn;
}

/**
 * Whether a cached copy may answer a read at `now`: live by its own deadlines
 * and no touch due. A copy that does not look live is a miss, never an end:
 * another process may have touched the store's record since this copy was
 * filled (a touch publishes nothing), so only the store's own record may
 * decide that a session expired (security review finding #2).
 */
function servable(record: SessionRecord, now: number, touchInterval: number): boolean {
  return isLive(record, now) && !touchDue(record, now, touchInterval);
}

/**
 * The session cache in front of a store: `find` is answered from memory when
 * the record is held, the feed is live and no touch is due; every other call
 * goes to the store exactly as it would without the cache, and drops what it
 * may change. See docs/session-cache.md.
 */
export class CachedStore implements SessionStore {
  private feed: FeedState;
  private stopFeed: (() => Promise<void>) | null = null;
  private closed = false;
  private retry: NodeJS.Timeout | undefined;
  private readonly sink: InvalidationSink;
  /** Hits wait one event-loop turn when invalidations arrive over a socket of this process (in-write stores). */
  private readonly deferHits: boolean;
  private readonly current: (() => boolean) | undefined;

  constructor(
    readonly inner: SessionStore,
    private readonly cache: SessionCache,
    /** Told of every lookup, hit or miss (the manager's `observers.cacheLookup`, for metrics). */
    private readonly onLookup: (lookup: CacheLookup) => void = () => undefined,
  ) {
    const coherence = inner.coherence;
    if (coherence === undefined) throw new TypeError('CachedStore needs a store that declares its coherence');
    this.deferHits = coherence.mode !== 'exclusive';
    this.current = coherence.current?.bind(coherence);
    this.sink = {
      invalidate: (ids) => this.cache.invalidate(ids),
      lost: () => {
        this.feed = 'lost';
        this.cache.flush();
      },
      restored: () => {
        this.feed = 'live';
      },
    };
    this.feed = coherence.subscribe === undefined ? 'live' : 'lost';
    if (coherence.subscribe !== undefined) this.startFeed();
  }

  get coherence() {
    return this.inner.coherence;
  }

  /** Whether reads can be answered from memory right now (for tests and health pages). */
  get serving(): boolean {
    return this.feed === 'live' && (this.current === undefined || this.current());
  }

  /**
   * The cached record when the cache can answer (held, feed current, no
   * touch due): a promise, settled after one event-loop turn for stores
   * whose invalidations arrive over a socket, resolving to undefined when the
   * record was invalidated meanwhile. Undefined when the store must be asked.
   */
  findCached(id: string, now: number, touchInterval: number): Promise<SessionRecord | undefined> | undefined {
    const held = this.serving ? this.cache.peek(id) : undefined;
    if (held === undefined || !servable(held, now, touchInterval)) return undefined;
    if (!this.deferHits) return Promise.resolve(this.hit(id, now, touchInterval));
    return nextTurn().then(() => this.hit(id, now, touchInterval));
  }

  async find(id: string, now: number, touchInterval: number): Promise<SessionRecord | null> {
    const cached = await this.findCached(id, now, touchInterval);
    if (cached !== undefined) return cached;
    return this.miss(id, now, touchInterval);
  }

  /** After the turn: invalidations that were readable when this request was are applied by now. */
  private hit(id: string, now: number, touchInterval: number): SessionRecord | undefined {
    const record = this.serving ? this.cache.get(id) : undefined;
    if (record === undefined || !servable(record, now, touchInterval)) return undefined;
    this.cache.countHit();
    this.onLookup('hit');
    return record;
  }

  private async miss(id: string, now: number, touchInterval: number): Promise<SessionRecord | null> {
    const serving = this.serving;
    if (serving) this.cache.countMiss();
    else this.cache.countBypass();
    this.onLookup('miss');
    // Not filled with a record that is not live, nor by a read that bypassed the cache.
    return this.filling(
      id,
      () => this.inner.find(id, now, touchInterval),
      (record) => (serving && record !== null && isLive(record, now) ? record : null),
    );
  }

  async create(record: SessionRecord): Promise<void> {
    await this.filling(record.id, () => this.inner.create(record), () => record);
  }

  update(id: string, patch: SessionPatch): Promise<boolean> {
    return this.dropping([id], () => this.inner.update(id, patch));
  }

  rotate(oldId: string, next: SessionRecord): Promise<boolean> {
    return this.dropping([oldId], () =>
      this.filling(next.id, () => this.inner.rotate(oldId, next), (rotated) => (rotated ? next : null)),
    );
  }

  /**
   * A store call whose answer may fill the cache for `id` (a find, or the
   * create or rotation that wrote the record under a new id), the way every
   * fill must go: `cached(answer)` is cached unless an invalidation of `id` or
   * a flush arrived while the call ran (the copy would be older than the
   * store: a sign-out, or another instance's revokeAll that saw the new id in
   * the user's index), or the feed is lost (an invalidation could have gone
   * unheard).
   */
  private async filling<T>(id: string, call: () => Promise<T>, cached: (answer: T) => SessionRecord | null): Promise<T> {
    const began = this.cache.beginFind(id);
    let answer: T;
    try {
      answer = await call();
    } catch (error) {
      this.cache.abandon(id);
      throw error;
    }
    this.cache.fill(id, this.feed !== 'lost' ? cached(answer) : null, began);
    return answer;
  }

  destroy(id: string): Promise<boolean> {
    return this.dropping([id], () => this.inner.destroy(id));
  }

  listByUser(userId: string, now: number): Promise<SessionRecord[]> {
    return this.inner.listByUser(userId, now);
  }

  revokeAll(userId: string, exceptId?: string): Promise<string[]> {
    return this.droppingUser(userId, () => this.inner.revokeAll(userId, exceptId));
  }

  refreshPrincipal(principal: Principal): Promise<number> {
    return this.droppingUser(principal.id, () => this.inner.refreshPrincipal(principal));
  }

  onRevoked(listener: RevocationListener): Promise<() => Promise<void>> {
    return this.inner.onRevoked(listener);
  }

  configure(settings: StoreSettings): void {
    this.inner.configure?.(settings);
  }

  ping(): Promise<void> {
    return this.inner.ping();
  }

  probeRevocations(timeoutMs: number): Promise<'up' | 'off'> {
    if (this.inner.probeRevocations === undefined) return Promise.resolve('off');
    return this.inner.probeRevocations(timeoutMs);
  }

  /** Stops the feed and closes the store. */
  async close(): Promise<void> {
    await this.stop();
    await this.inner.close();
  }

  /** Stops the feed and empties the cache; the store stays open (it belongs to the caller). */
  async stop(): Promise<void> {
    this.closed = true;
    if (this.retry) clearTimeout(this.retry);
    this.feed = 'lost';
    this.cache.flush(false);
    const stop = this.stopFeed;
    this.stopFeed = null;
    await stop?.().catch(() => undefined);
  }

  /** Drops `ids` before the write (reads meanwhile go to the store) and again once it settled, whatever the outcome. */
  private async dropping<T>(ids: readonly string[], write: () => Promise<T>): Promise<T> {
    this.cache.invalidate(ids);
    try {
      return await write();
    } finally {
      this.cache.invalidate(ids);
    }
  }

  private async droppingUser<T>(userId: string, write: () => Promise<T>): Promise<T> {
    this.cache.invalidateUser(userId);
    try {
      return await write();
    } finally {
      this.cache.invalidateUser(userId);
    }
  }

  private startFeed(): void {
    const subscribe = this.inner.coherence?.subscribe;
    if (subscribe === undefined || this.closed) return;
    subscribe.call(this.inner.coherence, this.sink).then(
      (stop) => {
        if (this.closed) {
          void stop().catch(() => undefined);
          return;
        }
        this.stopFeed = stop;
        this.sink.restored();
      },
      () => {
        // The store is down at start-up: every read goes to it (and gets its 503) until the feed starts.
        if (this.closed) return;
        this.retry = setTimeout(() => this.startFeed(), RESUBSCRIBE_MS);
        this.retry.unref();
      },
    );
  }
}
