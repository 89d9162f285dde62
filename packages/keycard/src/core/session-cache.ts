import { heapBytes, ownNamesHeapBytes, stringHeapBytes } from './heap-size.js';
import type { JsonValue, Principal, SessionRecord } from './record.js';

/** What the cache holds and does, for metrics and `SessionManager.cacheStats()`. Counters count since start. */
export interface CacheStats {
  /** Records held now. */
  readonly entries: number;
  /** Their estimated heap size, bytes: the records, their data's JSON and the cache's maps (core/heap-size.ts). */
  readonly bytes: number;
  /** Reads answered from the cache. */
  readonly hits: number;
  /** Reads that went to the store while the cache could serve (not held, or a touch was due). */
  readonly misses: number;
  /** Reads that went to the store because the invalidation feed was lost or late. */
  readonly bypassed: number;
  /** Times everything was dropped because the invalidation feed broke. */
  readonly flushes: number;
  /** Records dropped to stay within `maxEntries` / `maxBytes`. */
  readonly evictions: number;
  /** Invalidations remembered against reads in flight (at most one per id being read now). */
  readonly tombstones: number;
}

export interface CacheLimits {
  readonly maxEntries: number;
  readonly maxBytes: number;
}

interface Entry {
  /** The record with `data` left out when it is empty; principal deep-frozen. */
  readonly record: SessionRecord;
  /** The data as JSON, parsed into a fresh object on every hit (handlers may mutate what `get` returns). Null: empty. */
  readonly dataJson: string | null;
  readonly bytes: number;
  readonly userId: string | null;
}

const EMPTY_DATA = Object.freeze({}) as Record<string, JsonValue>;

/**
 * What the cache's own structures cost per record, beyond the record: the
 * Entry object (header and four fields), its slot in `entries` (three words,
 * plus the hash table's bucket and spare capacity), and its id in the user's
 * set. A user's Set itself is counted once per user (USER_SET_BYTES).
 */
const ENTRY_BYTES = 56 + 48 + 24;
const USER_SET_BYTES = 210;

/**
 * A bounded, least-recently-used map of decoded session records by store id,
 * with an index by user for `revokeAll` / `refreshPrincipal`, and the
 * tombstones that keep a miss that raced an invalidation from putting the old
 * record back (see docs/session-cache.md, "Local coherence").
 *
 * It decides nothing about expiry, touch or coherence: `CachedStore` does.
 */
export class SessionCache {
  private readonly entries = new Map<string, Entry>();
  private readonly byUser = new Map<string, Set<string>>();
  /**
   * Ids invalidated while a find of them was in flight, with the epoch of
   * that invalidation. Only ids in `reading` get one, and it goes with the
   * last find of its id: bounded by the reads in flight, whatever the number
   * of distinct ids invalidated (security review finding #11).
   */
  private readonly tombstones = new Map<string, number>();
  /** Finds in flight, per id. */
  private readonly reading = new Map<string, number>();
  /** Moves on every invalidation and flush; a fill is refused when something moved under its id. */
  private epoch = 0;
  /** Epoch of the last flush or feed problem: no fill that started before it may land. */
  private barrier = 0;
  private size = 0;
  private counters = { hits: 0, misses: 0, bypassed: 0, flushes: 0, evictions: 0 };

  constructor(private readonly limits: CacheLimits) {}

  stats(): CacheStats {
    return { entries: this.entries.size, bytes: this.size, ...this.counters, tombstones: this.tombstones.size };
  }

  /** The cached record without its data and without marking it used; for checks before a hit. */
  peek(id: string): SessionRecord | undefined {
    return this.entries.get(id)?.record;
  }

  /** The cached record (a copy of its data), marked most recently used; undefined when not held. */
  get(id: string): SessionRecord | undefined {
    const entry = this.entries.get(id);
    if (entry === undefined) return undefined;
    this.entries.delete(id);
    this.entries.set(id, entry);
    return entry.dataJson === null ? entry.record : { ...entry.record, data: JSON.parse(entry.dataJson) as Record<string, JsonValue> };
  }

  countHit(): void {
    this.counters.hits++;
  }

  countMiss(): void {
    this.counters.misses++;
  }

  countBypass(): void {
    this.counters.bypassed++;
  }

  /** Call before asking the store for `id`; pass the result to `fill` (or `abandon`) when it answers. */
  beginFind(id: string): number {
    this.reading.set(id, (this.reading.get(id) ?? 0) + 1);
    return this.epoch;
  }

  /**
   * Caches what the store answered for `id`, unless `id` was invalidated, or
   * the cache flushed, after `began` (the record may then be the old one).
   * A null answer drops what is held for `id` (a copy the store did not confirm).
   */
  fill(id: string, record: SessionRecord | null, began: number): void {
    const stale = began < this.barrier || (this.tombstones.get(id) ?? -1) >= began;
    this.endFind(id);
    if (record !== null && !stale) this.put(record);
    else this.remove(id);
  }

  /** The find of `id` failed: nothing to cache. */
  abandon(id: string): void {
    this.endFind(id);
  }

  /** Write-through of a record this process just stored (create, rotate): it is the newest state by construction. */
  put(record: SessionRecord): void {
    this.remove(record.id);
    const dataJson = Object.keys(record.data).length === 0 ? null : JSON.stringify(record.data);
    const principal = record.principal === null ? null : deepFreeze(structuredClone(record.principal) as Principal);
    const stored = Object.freeze(copyWith(record, principal));
    const bytes = ENTRY_BYTES + heapBytes(stored) + ownNamesHeapBytes(principal?.claims) + (dataJson === null ? 0 : stringHeapBytes(dataJson));
    if (bytes + USER_SET_BYTES > this.limits.maxBytes) return;
    const userId = principal?.id ?? null;
    this.entries.set(record.id, { record: stored, dataJson, bytes, userId });
    this.size += bytes;
    if (userId !== null) {
      let ids = this.byUser.get(userId);
      if (ids === undefined) {
        this.byUser.set(userId, (ids = new Set()));
        this.size += USER_SET_BYTES;
      }
      ids.add(record.id);
    }
    while (this.entries.size > this.limits.maxEntries || this.size > this.limits.maxBytes) this.evictOldest();
  }

  /** These records changed or went (here or in another process). */
  invalidate(ids: Iterable<string>): void {
    this.epoch++;
    for (const id of ids) {
      this.remove(id);
      if (this.reading.has(id)) this.tombstones.set(id, this.epoch);
    }
  }

  /** Every record of this user changed or went (revokeAll, refreshPrincipal). */
  invalidateUser(userId: string): void {
    const ids = this.byUser.get(userId);
    // Records of this user being read right now are not indexed yet: refuse every fill in flight.
    this.epoch++;
    if (this.reading.size > 0) this.barrier = this.epoch;
    if (ids !== undefined) this.invalidate([...ids]);
  }

  /** Drops everything and refuses every fill that started before now. */
  flush(countIt = true): void {
    this.epoch++;
    this.barrier = this.epoch;
    this.entries.clear();
    this.byUser.clear();
    this.size = 0;
    if (countIt) this.counters.flushes++;
  }

  private endFind(id: string): void {
    const left = (this.reading.get(id) ?? 1) - 1;
    if (left > 0) {
      this.reading.set(id, left);
      return;
    }
    // No find of `id` is in flight any more: nothing its tombstone could refuse.
    this.reading.delete(id);
    this.tombstones.delete(id);
  }

  private evictOldest(): void {
    const oldest = this.entries.keys().next();
    if (oldest.done) return;
    this.remove(oldest.value);
    this.counters.evictions++;
  }

  private remove(id: string): void {
    const entry = this.entries.get(id);
    if (entry === undefined) return;
    this.entries.delete(id);
    this.size -= entry.bytes;
    if (entry.userId === null) return;
    const ids = this.byUser.get(entry.userId);
    ids?.delete(id);
    if (ids?.size === 0) {
      this.byUser.delete(entry.userId);
      this.size -= USER_SET_BYTES;
    }
  }
}

/**
 * The record to hold, written out field by field: V8 gives a frozen object
 * made by spread syntax a map of its own (about 430 bytes more per cached
 * session, measured), while frozen object literals of one shape share theirs.
 */
function copyWith(record: SessionRecord, principal: Principal | null): SessionRecord {
  return {
    id: record.id,
    handle: record.handle,
    principal,
    data: EMPTY_DATA,
    createdAt: record.createdAt,
    lastSeenAt: record.lastSeenAt,
    authenticatedAt: record.authenticatedAt,
    idleTimeout: record.idleTimeout,
    idleExpiresAt: record.idleExpiresAt,
    absoluteExpiresAt: record.absoluteExpiresAt,
    remember: record.remember,
    rotationDue: record.rotationDue,
    userAgent: record.userAgent,
    ip: record.ip,
  };
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}
