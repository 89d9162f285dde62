import { clientAddress } from './address.js';
import { CachedStore } from './cached-store.js';
import { withDeadline } from './deadline.js';
import { SessionLimitError, StoreUnavailableError, WriteNotDurableError } from './errors.js';
import type { EventTransport, SessionEvents, SessionEventType } from './events.js';
import type { Observers, StoreCallOutcome } from './observe.js';
import type { ResolvedOptions } from './options.js';
import type { Principal, SessionPatch, SessionRecord } from './record.js';
import type { SessionStore } from './store.js';
import { traced } from './tracing.js';

/** Facts about the request that a new session records for device lists. */
export interface ClientInfo {
  readonly userAgent: string | null;
  readonly ip: string | null;
}

/**
 * The session engine's access to the store: every store call goes through
 * here, bounded by `storeTimeout` (a hung store becomes a fast
 * StoreUnavailableError), and every lifecycle event is emitted here, next to
 * the call that caused it; every call is traced and timed for `observers`.
 * New records get their limits here, and the
 * per-user session limit is applied here. Policy on top (when to rotate,
 * what a request may do) lives in `Session` and `SessionManager`.
 */
export class SessionRecords {
  constructor(
    private readonly options: ResolvedOptions,
    private readonly events: SessionEvents,
    private readonly observers: Observers,
  ) {}

  get store(): SessionStore {
    return this.options.store;
  }

  now(): number {
    return this.options.clock.now();
  }

  /** A new record under `id` with the limits that fit `remember`; nothing is stored yet. */
  newRecord(id: string, client: ClientInfo, principal: Principal | null, remember: boolean): SessionRecord {
    const options = this.options;
    const now = this.now();
    const idleTimeout = remember ? options.rememberIdleTimeoutMs : options.idleTimeoutMs;
    const absoluteExpiresAt = now + (remember ? options.rememberAbsoluteTimeoutMs : options.absoluteTimeoutMs);
    return {
      id,
      handle: Buffer.from(options.random(16)).toString('base64url'),
      principal,
      data: {},
      createdAt: now,
      lastSeenAt: now,
      authenticatedAt: principal ? now : null,
      idleTimeout,
      idleExpiresAt: Math.min(now + idleTimeout, absoluteExpiresAt),
      absoluteExpiresAt,
      remember,
      rotationDue: false,
      userAgent: client.userAgent,
      ip: client.ip,
    };
  }

  /** The record under `id` as of `now`, touched when due; it may have expired (see `expire`). */
  find(id: string, now: number): Promise<SessionRecord | null> {
    // A session-cache hit is not a store call: no deadline, span or store-call metric for it.
    const store = this.store;
    const hit = store instanceof CachedStore ? store.findCached(id, now, this.options.touchIntervalMs) : undefined;
    if (hit !== undefined) return hit.then((record) => record ?? this.findInStore(id, now));
    return this.findInStore(id, now);
  }

  private findInStore(id: string, now: number): Promise<SessionRecord | null> {
    return this.call(() => this.store.find(id, now, this.options.touchIntervalMs), 'find');
  }

  /** A record found expired: reported, and removed in the background (the store would drop it anyway). */
  expire(record: SessionRecord, transport: EventTransport | null): void {
    this.emit('expired', record, undefined, transport);
    void this.store.destroy(record.id).catch(() => undefined);
  }

  async create(record: SessionRecord, transport: EventTransport | null): Promise<void> {
    await this.call(() => this.store.create(record), 'create');
    this.emit('created', record, undefined, transport);
  }

  /** A sign-in has taken effect on `record` (new or rotated in): reported. */
  signedIn(record: SessionRecord, transport: EventTransport | null): void {
    this.emit('signedIn', record, undefined, transport);
  }

  /** False when the record is gone (nothing is written then). */
  update(id: string, patch: SessionPatch): Promise<boolean> {
    return this.call(() => this.store.update(id, patch), 'update');
  }

  /** False when `previous` was already gone (nothing stored then). */
  async rotate(previous: SessionRecord, next: SessionRecord, transport: EventTransport | null): Promise<boolean> {
    const rotated = await this.call(() => this.store.rotate(previous.id, next), 'rotate');
    if (rotated) this.emit('rotated', next, undefined, transport);
    return rotated;
  }

  /** Ends the session on its own request's behalf (sign-out). */
  async destroy(record: SessionRecord, transport: EventTransport | null): Promise<void> {
    if (await this.call(() => this.store.destroy(record.id), 'destroy')) this.emit('destroyed', record, undefined, transport);
  }

  /** Ends a session on someone else's behalf; false when it was already gone. */
  async revoke(record: SessionRecord, reason: string): Promise<boolean> {
    const revoked = await this.call(() => this.store.destroy(record.id), 'destroy');
    if (revoked) this.emit('revoked', record, reason);
    return revoked;
  }

  /** The user's live records, oldest first. */
  listByUser(userId: string): Promise<SessionRecord[]> {
    return this.call(() => this.store.listByUser(userId, this.now()), 'listByUser');
  }

  /** Ends every session of the user but `exceptId`; returns the ended handles. */
  async revokeAll(userId: string, exceptId: string | undefined): Promise<string[]> {
    const handles = await this.call(() => this.store.revokeAll(userId, exceptId), 'revokeAll');
    for (const handle of handles) this.events.emit({ type: 'revoked', handle, userId, at: this.now(), reason: 'revoked' });
    return handles;
  }

  refreshPrincipal(principal: Principal): Promise<number> {
    return this.call(() => this.store.refreshPrincipal(principal), 'refreshPrincipal');
  }

  ping(): Promise<void> {
    return this.call(() => this.store.ping(), 'ping');
  }

  /** Whether revocations from other processes reach this one (see `SessionStore.probeRevocations`); never throws. */
  async probeRevocations(): Promise<'up' | 'down' | 'off'> {
    const probe = this.store.probeRevocations?.bind(this.store);
    if (!probe) return 'off';
    const ms = this.options.storeTimeoutMs;
    try {
      return await withDeadline(probe(ms), ms, 'probeRevocations');
    } catch {
      return 'down';
    }
  }

  /** Reports a store outage met while loading a request's session (with the request's details). */
  unavailableOnLoad(transport: EventTransport, client: { readonly ip?: string | undefined; readonly userAgent?: string | undefined }): void {
    this.events.emit({
      type: 'storeUnavailable',
      handle: null,
      userId: null,
      at: this.now(),
      reason: 'find',
      transport,
      ip: clientAddress(client.ip),
      userAgent: client.userAgent ?? null,
    });
  }

  /**
   * Applies the per-user session limit before a sign-in: evicts the oldest
   * sessions past it (`currentId`, the session signing in, is not counted),
   * or refuses with SessionLimitError.
   */
  async makeRoomFor(userId: string, currentId: string | undefined): Promise<void> {
    const limit = this.options.maxSessionsPerUser;
    if (limit === Infinity) return;
    const others = (await this.listByUser(userId)).filter((record) => record.id !== currentId);
    const excess = others.length - limit + 1;
    if (excess <= 0) return;
    if (this.options.sessionLimitMode === 'refuse') throw new SessionLimitError(limit);
    for (const oldest of others.slice(0, excess)) await this.revoke(oldest, 'session-limit');
  }

  /**
   * Every store call: bounded by `storeTimeout`, in a span when OpenTelemetry
   * records, timed for `observers`, and reported as a `storeUnavailable`
   * event when it fails.
   */
  private call<T>(operation: () => Promise<T>, what: string): Promise<T> {
    const observed = this.observers.observingStoreCalls;
    const started = observed ? performance.now() : 0;
    const result = traced(`keycard.store.${what}`, { 'keycard.store.operation': what }, () =>
      withDeadline(operation(), this.options.storeTimeoutMs, what),
    );
    if (!observed) return result.catch((error: unknown) => this.failed(error, what));
    return result.then(
      (value) => {
        this.observers.storeCall({ operation: what, outcome: 'ok', seconds: (performance.now() - started) / 1000 });
        return value;
      },
      (error: unknown) => {
        const elapsed = performance.now() - started;
        this.observers.storeCall({ operation: what, outcome: outcomeOf(error, elapsed >= this.options.storeTimeoutMs), seconds: elapsed / 1000 });
        return this.failed(error, what);
      },
    );
  }

  /** Reports a store failure (except `find`, which a load reports with the request's details) and rethrows. */
  private failed(error: unknown, what: string): never {
    if (error instanceof StoreUnavailableError && what !== 'find') {
      this.events.emit({ type: 'storeUnavailable', handle: null, userId: null, at: this.now(), reason: what });
    }
    throw error;
  }

  private emit(type: SessionEventType, record: SessionRecord, reason?: string, transport?: EventTransport | null): void {
    this.events.emit({
      type,
      handle: record.handle,
      userId: record.principal?.id ?? null,
      at: this.now(),
      ...(reason ? { reason } : {}),
      ...(transport ? { transport } : {}),
      ip: record.ip,
      userAgent: record.userAgent,
    });
  }
}

function outcomeOf(error: unknown, pastDeadline: boolean): StoreCallOutcome {
  if (error instanceof WriteNotDurableError) return 'not_durable';
  return pastDeadline ? 'timeout' : 'unavailable';
}
