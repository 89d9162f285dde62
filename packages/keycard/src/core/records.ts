import { withDeadline } from './deadline.js';
import { SessionLimitError } from './errors.js';
import type { SessionEvents, SessionEventType } from './events.js';
import type { ResolvedOptions } from './options.js';
import type { Principal, SessionPatch, SessionRecord } from './record.js';
import type { SessionStore } from './store.js';

/** Facts about the request that a new session records for device lists. */
export interface ClientInfo {
  readonly userAgent: string | null;
  readonly ip: string | null;
}

/**
 * The session engine's access to the store: every store call goes through
 * here, bounded by `storeTimeout` (a hung store becomes a fast
 * StoreUnavailableError), and every lifecycle event is emitted here, next to
 * the call that caused it. New records get their limits here, and the
 * per-user session limit is applied here. Policy on top (when to rotate,
 * what a request may do) lives in `Session` and `SessionManager`.
 */
export class SessionRecords {
  constructor(
    private readonly options: ResolvedOptions,
    private readonly events: SessionEvents,
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
    return this.call(this.store.find(id, now, this.options.touchIntervalMs), 'find');
  }

  /** A record found expired: reported, and removed in the background (the store would drop it anyway). */
  expire(record: SessionRecord): void {
    this.emit('expired', record);
    void this.store.destroy(record.id).catch(() => undefined);
  }

  async create(record: SessionRecord): Promise<void> {
    await this.call(this.store.create(record), 'create');
    this.emit('created', record);
  }

  /** False when the record is gone (nothing is written then). */
  update(id: string, patch: SessionPatch): Promise<boolean> {
    return this.call(this.store.update(id, patch), 'update');
  }

  /** False when `previous` was already gone (nothing stored then). */
  async rotate(previous: SessionRecord, next: SessionRecord): Promise<boolean> {
    const rotated = await this.call(this.store.rotate(previous.id, next), 'rotate');
    if (rotated) this.emit('rotated', next);
    return rotated;
  }

  /** Ends the session on its own request's behalf (sign-out). */
  async destroy(record: SessionRecord): Promise<void> {
    if (await this.call(this.store.destroy(record.id), 'destroy')) this.emit('destroyed', record);
  }

  /** Ends a session on someone else's behalf; false when it was already gone. */
  async revoke(record: SessionRecord, reason: string): Promise<boolean> {
    const revoked = await this.call(this.store.destroy(record.id), 'destroy');
    if (revoked) this.emit('revoked', record, reason);
    return revoked;
  }

  /** The user's live records, oldest first. */
  listByUser(userId: string): Promise<SessionRecord[]> {
    return this.call(this.store.listByUser(userId, this.now()), 'listByUser');
  }

  /** Ends every session of the user but `exceptId`; returns the ended handles. */
  async revokeAll(userId: string, exceptId: string | undefined): Promise<string[]> {
    const handles = await this.call(this.store.revokeAll(userId, exceptId), 'revokeAll');
    for (const handle of handles) this.events.emit({ type: 'revoked', handle, userId, at: this.now(), reason: 'revoked' });
    return handles;
  }

  refreshPrincipal(principal: Principal): Promise<number> {
    return this.call(this.store.refreshPrincipal(principal), 'refreshPrincipal');
  }

  ping(): Promise<void> {
    return this.call(this.store.ping(), 'ping');
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

  private call<T>(operation: Promise<T>, what: string): Promise<T> {
    return withDeadline(operation, this.options.storeTimeoutMs, what);
  }

  private emit(type: SessionEventType, record: SessionRecord, reason?: string): void {
    this.events.emit({
      type,
      handle: record.handle,
      userId: record.principal?.id ?? null,
      at: this.now(),
      ...(reason ? { reason } : {}),
    });
  }
}
