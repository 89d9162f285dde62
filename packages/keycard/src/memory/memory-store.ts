import { SessionExistsError } from '../core/errors.js';
import { expiresAt, isLive, touchDue, touched } from '../core/record.js';
import type { Principal, SessionPatch, SessionRecord } from '../core/record.js';
import type { SessionStore } from '../core/store.js';
import { InvalidationSinks, type StoreCoherence } from '../core/coherence.js';
import { systemClock, type Clock } from '../core/clock.js';
import { RevocationListeners, positiveIntegerOption, sweepIntervalOption, type RevocationListener } from '../core/store-support.js';
import { sweepEvery, sweepExpired } from '../core/sweep.js';

export interface MemoryStoreOptions {
  /** Most records kept; past it the least recently written record is evicted. Default 100 000. */
  readonly maxEntries?: number;
  /** Seconds between sweeps of expired records (one timer for the whole store). Default 60; 0 disables the timer. */
  readonly sweepInterval?: number;
  /** Clock used by the sweeper. Default: the system clock. */
  readonly clock?: Clock;
}

interface Entry {
  /** The record as JSON: a store that serialises on write behaves like a real one. */
  readonly json: string;
  readonly expiresAt: number;
  readonly userId: string | null;
  readonly handle: string;
}

/**
 * A bounded in-process store for development, tests and single-instance apps.
 * Expired records are swept by one unref'd timer and ignored on read, so it
 * never grows past `maxEntries`.
 */
export class MemoryStore implements SessionStore {
  private readonly entries = new Map<string, Entry>();
  private readonly byUser = new Map<string, Set<string>>();
  private readonly listeners = new RevocationListeners();
  private readonly sinks = new InvalidationSinks();

  /**
   * Exclusive: the data lives in this object, so every change goes through
   * it. Its feed reports each change (other than a touch) synchronously,
   * before the changing call resolves, evictions and sweeps included, so
   * several managers sharing one store stay exact.
   */
  readonly coherence: StoreCoherence = {
    mode: 'exclusive',
    subscribe: (sink) => this.sinks.subscribe(sink),
  };
  private readonly maxEntries: number;
  private readonly clock: Clock;
  private readonly timer: NodeJS.Timeout | undefined;

  constructor(options: MemoryStoreOptions = {}) {
    this.maxEntries = positiveIntegerOption('MemoryStore', 'maxEntries', options.maxEntries, 100_000);
    this.clock = options.clock ?? systemClock;
    this.timer = sweepEvery(sweepIntervalOption('MemoryStore', options.sweepInterval, 60), () => this.sweep());
  }

  /** Number of records held, expired ones included until the next sweep. */
  get size(): number {
    return this.entries.size;
  }

  /** Removes every record expired at the clock's now; returns how many. */
  sweep(now = this.clock.now()): number {
    return sweepExpired(this.entries, now, (id, entry) => this.remove(id, entry));
  }

  async find(id: string, now: number, touchInterval: number): Promise<SessionRecord | null> {
    const entry = this.entries.get(id);
    if (!entry) return null;
    const record = JSON.parse(entry.json) as SessionRecord;
    if (!touchDue(record, now, touchInterval)) return record;
    const next = touched(record, now);
    // A touch moves only lastSeenAt and the idle expiry: a cached copy then finds its touch due and asks again.
    this.put(next, false);
    return next;
  }

  async create(record: SessionRecord): Promise<void> {
    if (this.entries.has(record.id)) throw new SessionExistsError();
    this.put(record);
  }

  async update(id: string, patch: SessionPatch): Promise<boolean> {
    const entry = this.entries.get(id);
    if (!entry) return false;
    const record = JSON.parse(entry.json) as SessionRecord;
    const data = { ...record.data, ...patch.set };
    for (const key of patch.unset ?? []) delete data[key];
    this.put({ ...record, data, rotationDue: patch.rotationDue ?? record.rotationDue });
    return true;
  }

  async rotate(oldId: string, next: SessionRecord): Promise<boolean> {
    const entry = this.entries.get(oldId);
    if (!entry) return false;
    if (this.entries.has(next.id)) throw new SessionExistsError();
    this.remove(oldId, entry);
    this.put(next);
    return true;
  }

  async destroy(id: string): Promise<boolean> {
    const entry = this.entries.get(id);
    if (!entry) return false;
    this.remove(id, entry);
    this.listeners.publish([entry.handle]);
    return true;
  }

  async listByUser(userId: string, now: number): Promise<SessionRecord[]> {
    const records: SessionRecord[] = [];
    for (const id of this.byUser.get(userId) ?? []) {
      const entry = this.entries.get(id);
      if (entry && entry.expiresAt > now) records.push(JSON.parse(entry.json) as SessionRecord);
    }
    return records.sort((a, b) => a.createdAt - b.createdAt);
  }

  async revokeAll(userId: string, exceptId?: string): Promise<string[]> {
    const handles: string[] = [];
    for (const id of this.byUser.get(userId) ?? []) {
      const entry = this.entries.get(id);
      if (id === exceptId || !entry) continue;
      this.remove(id, entry);
      handles.push(entry.handle);
    }
    if (handles.length > 0) this.listeners.publish(handles);
    return handles;
  }

  async refreshPrincipal(principal: Principal): Promise<number> {
    const now = this.clock.now();
    let changed = 0;
    for (const id of this.byUser.get(principal.id) ?? []) {
      const entry = this.entries.get(id);
      if (!entry) continue;
      const record = JSON.parse(entry.json) as SessionRecord;
      if (!isLive(record, now)) continue;
      this.put({ ...record, principal, rotationDue: true });
      changed++;
    }
    if (changed > 0) this.listeners.publish([], principal.id);
    return changed;
  }

  async onRevoked(listener: RevocationListener): Promise<() => Promise<void>> {
    const remove = this.listeners.add(listener);
    return async () => {
      remove();
    };
  }

  async ping(): Promise<void> {}

  /** In-process delivery cannot be lost: 'up' while someone listens. */
  async probeRevocations(): Promise<'up' | 'off'> {
    return this.listeners.size > 0 ? 'up' : 'off';
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.listeners.clear();
  }

  private put(record: SessionRecord, changed = true): void {
    const previous = this.entries.get(record.id);
    if (previous && changed) this.changed(record.id);
    if (previous) {
      this.entries.delete(record.id);
    } else if (this.entries.size >= this.maxEntries) {
      this.evictOne();
    }
    const userId = record.principal?.id ?? null;
    this.entries.set(record.id, { json: JSON.stringify(record), expiresAt: expiresAt(record), userId, handle: record.handle });
    if (previous?.userId && previous.userId !== userId) this.unindex(previous.userId, record.id);
    if (userId !== null) {
      let ids = this.byUser.get(userId);
      if (!ids) this.byUser.set(userId, (ids = new Set()));
      ids.add(record.id);
    }
  }

  /** Evicts the least recently written record: O(1), so a flood of sign-ins cannot stall the store. */
  private evictOne(): void {
    const first = this.entries.entries().next();
    if (!first.done) this.remove(first.value[0], first.value[1]);
  }

  private remove(id: string, entry: Entry): void {
    this.entries.delete(id);
    this.changed(id);
    if (entry.userId !== null) this.unindex(entry.userId, id);
  }

  private unindex(userId: string, id: string): void {
    const ids = this.byUser.get(userId);
    if (!ids) return;
    ids.delete(id);
    if (ids.size === 0) this.byUser.delete(userId);
  }

  private changed(id: string): void {
    this.sinks.invalidate([id]);
  }
}
