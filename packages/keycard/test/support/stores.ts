import { MemoryStore, touchDue, type Clock, type SessionPatch, type SessionRecord, type SessionStore } from '../../src/index.js';

/**
 * The real MemoryStore, counting calls. A touch happens inside `find`, so it
 * is counted separately (`touches`) with the core's own `touchDue` rule.
 */
export class CountingStore extends MemoryStore {
  finds = 0;
  creates = 0;
  updates = 0;
  rotates = 0;
  destroys = 0;
  touches = 0;

  constructor(clock?: Clock) {
    super({ sweepInterval: 0, clock });
  }

  /** While true, every write rejects as a client library would when the backend went away after the read. */
  failWrites = false;

  private writeFailure(): Promise<never> {
    return Promise.reject(new Error('connection lost'));
  }

  /** Every write: create, update, rotate, destroy and touch. */
  get writes(): number {
    return this.creates + this.updates + this.rotates + this.destroys + this.touches;
  }

  override async find(id: string, now: number, touchInterval: number): Promise<SessionRecord | null> {
    this.finds++;
    const before = await super.find(id, now, Infinity);
    if (before && touchDue(before, now, touchInterval)) this.touches++;
    return super.find(id, now, touchInterval);
  }

  /** The stored record, without counting or touching. */
  peek(id: string): Promise<SessionRecord | null> {
    return super.find(id, 0, Infinity);
  }

  override create(record: SessionRecord): Promise<void> {
    this.creates++;
    if (this.failWrites) return this.writeFailure();
    return super.create(record);
  }

  override update(id: string, patch: SessionPatch): Promise<boolean> {
    this.updates++;
    if (this.failWrites) return this.writeFailure();
    return super.update(id, patch);
  }

  override rotate(oldId: string, next: SessionRecord): Promise<boolean> {
    this.rotates++;
    if (this.failWrites) return this.writeFailure();
    return super.rotate(oldId, next);
  }

  override destroy(id: string): Promise<boolean> {
    this.destroys++;
    if (this.failWrites) return this.writeFailure();
    return super.destroy(id);
  }
}

/**
 * A store that is down: every call rejects (a refused connection) or never
 * settles (a dead peer, so only the manager's deadline ends the wait).
 */
export class DownStore implements SessionStore {
  calls = 0;
  constructor(private readonly mode: 'reject' | 'hang') {}

  private fail<T>(): Promise<T> {
    this.calls++;
    if (this.mode === 'hang') return new Promise<T>(() => undefined);
    // What a client library rejects with; the manager wraps it as StoreUnavailableError.
    return Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:6379'));
  }

  find(): Promise<SessionRecord | null> {
    return this.fail();
  }
  create(): Promise<void> {
    return this.fail();
  }
  update(): Promise<boolean> {
    return this.fail();
  }
  rotate(): Promise<boolean> {
    return this.fail();
  }
  destroy(): Promise<boolean> {
    return this.fail();
  }
  listByUser(): Promise<SessionRecord[]> {
    return this.fail();
  }
  revokeAll(): Promise<string[]> {
    return this.fail();
  }
  refreshPrincipal(): Promise<number> {
    return this.fail();
  }
  async onRevoked(): Promise<() => Promise<void>> {
    return async () => undefined;
  }
  ping(): Promise<void> {
    return this.fail();
  }
  async close(): Promise<void> {}
}
