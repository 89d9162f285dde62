import { withDeadline } from '../core/deadline.js';
import { InvalidOptionsError } from '../core/errors.js';
import type { SessionManager } from '../core/manager.js';
import { expiresAt, isLive, type Principal, type SessionRecord } from '../core/record.js';
import type { AuthenticatedSession } from './upgrade.js';

/** Close code for a socket whose session ended: signed out, revoked or expired. In the 4000–4999 range RFC 6455 leaves to applications; "401" says "sign in again". */
export const WS_CLOSE_SESSION_ENDED = 4401;
/** Close code (RFC 6455 "Try Again Later") for a socket whose session could not be re-checked because the store is down. */
export const WS_CLOSE_TRY_AGAIN_LATER = 1013;
/** Close code (RFC 6455 "Going Away") for a socket that arrives after the registry was closed (shutdown). */
export const WS_CLOSE_GOING_AWAY = 1001;

/** The close reasons, fixed strings a client can match on. */
export const WS_CLOSE_REASONS = {
  ended: 'session ended',
  expired: 'session expired',
  storeUnavailable: 'session store unavailable',
  shutdown: 'server shutting down',
} as const;

/**
 * Why a signed-in socket closed: the `reason` of `socketClosed` events, a
 * fixed set (safe as a metric label). keycard closed it because its session
 * ended ('session-ended', 'session-expired'), the store could not re-check it
 * ('store-unavailable') or the server is stopping ('shutdown'); a limit closed
 * it ('message-too-big', 'rate-limited'); the peer closed it with 1008
 * ('policy-violation'); or it ended any other way ('closed': the client left,
 * the network dropped).
 */
export type SocketCloseReason =
  | 'session-ended'
  | 'session-expired'
  | 'store-unavailable'
  | 'shutdown'
  | 'message-too-big'
  | 'rate-limited'
  | 'policy-violation'
  | 'closed';

/** The slug of each close the registry makes itself. */
const CLOSE_SLUGS: Readonly<Record<string, SocketCloseReason>> = {
  [WS_CLOSE_REASONS.ended]: 'session-ended',
  [WS_CLOSE_REASONS.expired]: 'session-expired',
  [WS_CLOSE_REASONS.storeUnavailable]: 'store-unavailable',
  [WS_CLOSE_REASONS.shutdown]: 'shutdown',
};

/** RFC 6455 codes a closed WebSocket reports, as a close reason (1009: ws' own `maxPayload` close). */
const CODE_SLUGS: Readonly<Record<number, SocketCloseReason>> = { 1009: 'message-too-big', 1008: 'policy-violation' };

/** The close reason of a WebSocket that closed with `code` (one keycard did not close itself). */
export function closeReasonOf(code: number | undefined): SocketCloseReason {
  return (code === undefined ? undefined : CODE_SLUGS[code]) ?? 'closed';
}

/** What the registry needs of a socket; `ws`' WebSocket has both. */
export interface ClosableSocket {
  close(code: number, reason: string): void;
  /** Drops the connection without the closing handshake. */
  terminate(): void;
}

/** A socket's view of its session. Live: `principal` and `expiresAt` follow the re-checks, `ended` turns true when the session ends. */
export interface SocketSession {
  readonly handle: string;
  readonly principal: Principal;
  /** Milliseconds since the epoch (manager clock), as of the last check. */
  readonly expiresAt: number;
  /** Milliseconds since the epoch (manager clock): the last sign-in or re-authentication, as of the last check. */
  readonly authenticatedAt: number | null;
  /** The session ended (the socket is closing): handlers must not act for it any more. */
  readonly ended: boolean;
}

export interface SocketRegistryOptions {
  /**
   * Seconds between re-checks of a session that has not expired, catching
   * revocations whose message was lost (pub/sub does not replay what a
   * disconnected subscriber missed). Infinity: only at expiry. Default 300.
   */
  readonly revalidateInterval?: number;
  /** Seconds a closed socket gets to finish the closing handshake before it is dropped (Infinity: ws' own 30 s). Default 1. */
  readonly closeGrace?: number;
  /** Called with failures the registry recovers from by itself (a failed subscription or re-check). Default: ignored. */
  readonly onError?: (error: unknown) => void;
}

/** Node's timers take at most a signed 32-bit delay. */
const MAX_DELAY = 2 ** 31 - 1;
/** How long a heard revocation is remembered, for sockets whose handshake was in flight when it arrived. */
const REMEMBER_REVOKED_MS = 10_000;
/** How often a sealed-cookie session is checked against its revocation store: it has no channel to hear a sign-out on. */
const SEALED_RECHECK_MS = 500;
/** Pause before subscribing again after the store refused. */
const RESUBSCRIBE_MS = 1000;

/** One session and the sockets opened with it; shared by every socket of the session. */
class Entry<S extends ClosableSocket> implements SocketSession {
  readonly sockets = new Set<S>();
  timer: NodeJS.Timeout | null = null;
  ended = false;

  constructor(
    readonly handle: string,
    readonly userId: string,
    public principal: Principal,
    public expiresAt: number,
    public authenticatedAt: number | null,
    /** Sealed-cookie sessions: the id their revocation marker is kept under; null for a session in a store. */
    readonly sealedId: string | null = null,
  ) {}
}

/**
 * Keeps the sockets of signed-in sessions and closes them when their session
 * ends, on this process or any other sharing the store:
 *
 * - **Revocation and sign-out** (push): one `manager.onRevoked` subscription
 *   per registry (`SessionModule` provides one per application, shared by
 *   every socket transport), a map handle → sockets,
 *   and a close with 4401 "session ended" as soon as the store's message
 *   arrives (in-process for memory, Redis pub/sub, Postgres LISTEN/NOTIFY).
 * - **Expiry** (timer): each session gets one timer at its known expiry.
 *   When it fires the session is re-read from the user's index (no touch: an
 *   open socket is not activity, so an idle session still ends). If HTTP
 *   traffic extended it meanwhile the timer moves; if it is gone the sockets
 *   close with 4401 "session expired". A timer per session rather than a
 *   polling loop costs nothing between events and is exact.
 * - **Role changes** (push): `refreshPrincipal` on any instance publishes
 *   the user on the same channel; each of their sessions is re-read at once,
 *   so a demoted user's socket loses the role within a store round trip.
 * - **Sealed-cookie sessions** (poll): no store to publish on, so each is
 *   checked against the revocation store every 500 ms (one round trip per
 *   session, shared by its sockets): a sign-out or "sign out everywhere"
 *   closes its sockets within a second.
 * - **Lost messages** (safety net): the same re-check also runs every
 *   `revalidateInterval`, so a revocation published while a subscriber was
 *   reconnecting still closes the socket, only later.
 *
 * The re-check goes by handle through `listByUser`, not by the session id,
 * because a session keeps its handle when it rotates (sign-in, role change)
 * but not its id. When the store is down at expiry the sockets close with
 * 1013: the session cannot be shown to be alive, and the client's reconnect
 * then gets a 503 until the store is back.
 *
 * Framework-free: it works with any socket that has `close` and `terminate`.
 */
export class SocketRegistry<S extends ClosableSocket = ClosableSocket> {
  private readonly entries = new Map<string, Entry<S>>();
  private readonly socketEntries = new Map<S, Entry<S>>();
  /** handle → when it was heard (performance.now()); insertion-ordered, so pruning stops at the first recent one. */
  private readonly recentlyRevoked = new Map<string, number>();
  private readonly revalidateMs: number;
  private readonly graceMs: number;
  private readonly onError: (error: unknown) => void;
  private subscription: Promise<void> | null = null;
  private unsubscribe: (() => Promise<void>) | null = null;
  private resubscribeTimer: NodeJS.Timeout | null = null;
  /** A subscription failed: revocations may have been missed, so the next successful one re-checks everything. */
  private missedRevocations = false;
  private closed = false;

  constructor(
    private readonly manager: SessionManager,
    options: SocketRegistryOptions = {},
  ) {
    this.revalidateMs = seconds('revalidateInterval', options.revalidateInterval, 300) * 1000;
    this.graceMs = seconds('closeGrace', options.closeGrace, 1) * 1000;
    const onError = options.onError ?? (() => undefined);
    if (typeof onError !== 'function') throw new InvalidOptionsError('keycard: onError must be a function');
    this.onError = onError;
  }

  /** Sockets currently tracked. */
  get size(): number {
    return this.socketEntries.size;
  }

  /**
   * Subscribes to revocations (once; later calls return the same promise).
   * Resolves when the subscription is in place, rejects when the store
   * refused it; a refused subscription is retried every second while
   * sockets are tracked. `track` calls it too.
   */
  start(): Promise<void> {
    if (this.closed) return Promise.reject(new Error('keycard: the socket registry is closed'));
    if (this.subscription) return this.subscription;
    const subscription = this.manager.onRevoked((handles, refreshedUserId) => {
      if (refreshedUserId === undefined) this.revoked(handles);
      else this.refreshed(refreshedUserId);
    }).then(
      (unsubscribe) => {
        if (this.closed) {
          void unsubscribe().catch(() => undefined);
          return;
        }
        this.unsubscribe = unsubscribe;
        if (this.missedRevocations) {
          this.missedRevocations = false;
          void this.recheck();
        }
      },
      (error: unknown) => {
        this.subscription = null;
        this.missedRevocations = true;
        this.onError(error);
        this.scheduleResubscribe();
        throw error;
      },
    );
    this.subscription = subscription;
    return subscription;
  }

  /**
   * Starts watching `socket` for the end of `session` and returns the socket's
   * view of it. A session revoked while its handshake was in flight is closed at once.
   */
  track(session: AuthenticatedSession, socket: S): SocketSession {
    let entry = this.entries.get(session.handle);
    if (!entry) {
      entry = new Entry<S>(session.handle, session.principal.id, session.principal, session.expiresAt, session.authenticatedAt, session.sealedId ?? null);
      if (this.closed) {
        entry.ended = true;
        this.closeSocket(socket, WS_CLOSE_GOING_AWAY, WS_CLOSE_REASONS.shutdown);
        return entry;
      }
      this.start().catch(() => undefined);
      this.forgetOldRevocations();
      if (this.recentlyRevoked.has(session.handle)) {
        // Revoked after the handshake's load and before this call: never let it in.
        entry.ended = true;
        this.closeSocket(socket, WS_CLOSE_SESSION_ENDED, WS_CLOSE_REASONS.ended);
        return entry;
      }
      this.entries.set(session.handle, entry);
      this.schedule(entry);
    }
    entry.sockets.add(socket);
    this.socketEntries.set(socket, entry);
    this.reportOpen(entry);
    return entry;
  }

  /**
   * Stops watching a socket (it closed); the session's timer goes with its last socket.
   * `reason` says why, for the `socketClosed` event (`closeReasonOf(code)` for a WebSocket's close code).
   * A socket the registry closed itself was reported then; untracking it again reports nothing.
   */
  untrack(socket: S, reason: SocketCloseReason = 'closed'): void {
    const entry = this.socketEntries.get(socket);
    if (!entry) return;
    this.reportClose(entry, reason);
    this.socketEntries.delete(socket);
    entry.sockets.delete(socket);
    if (entry.sockets.size === 0 && this.entries.get(entry.handle) === entry) {
      this.entries.delete(entry.handle);
      if (entry.timer) clearTimeout(entry.timer);
    }
  }

  /** The session a tracked socket was opened with, or undefined. */
  sessionOf(socket: S): SocketSession | undefined {
    return this.socketEntries.get(socket);
  }

  /**
   * Re-checks every tracked session now, as its timer would (after a store
   * outage, say, when revocation messages may have been lost).
   */
  async recheck(): Promise<void> {
    await Promise.all([...this.entries.values()].map((entry) => this.check(entry)));
  }

  /** Unsubscribes and stops every timer; sockets are left to their server (which closes them on shutdown). */
  async close(): Promise<void> {
    this.closed = true;
    if (this.resubscribeTimer) clearTimeout(this.resubscribeTimer);
    for (const entry of this.entries.values()) if (entry.timer) clearTimeout(entry.timer);
    this.entries.clear();
    this.socketEntries.clear();
    this.recentlyRevoked.clear();
    const unsubscribe = this.unsubscribe;
    this.unsubscribe = null;
    // The store may already be closed (app shutdown closes it too); there is nothing left to release then.
    await unsubscribe?.().catch(() => undefined);
  }

  private revoked(handles: readonly string[]): void {
    this.forgetOldRevocations();
    const now = performance.now();
    for (const handle of handles) {
      this.recentlyRevoked.delete(handle);
      this.recentlyRevoked.set(handle, now);
      const entry = this.entries.get(handle);
      if (entry) this.end(entry, WS_CLOSE_SESSION_ENDED, WS_CLOSE_REASONS.ended);
    }
  }

  /**
   * The user's roles changed (`refreshPrincipal`, on any instance): each of
   * their sessions re-reads its principal now. One that cannot be re-read
   * (store down) is closed rather than left with roles it may have lost.
   */
  private refreshed(userId: string): void {
    for (const entry of this.entries.values()) {
      if (entry.userId === userId) void this.check(entry, true);
    }
  }

  private forgetOldRevocations(): void {
    const cutoff = performance.now() - REMEMBER_REVOKED_MS;
    for (const [handle, heard] of this.recentlyRevoked) {
      if (heard > cutoff) break;
      this.recentlyRevoked.delete(handle);
    }
  }

  private schedule(entry: Entry<S>): void {
    if (entry.timer) clearTimeout(entry.timer);
    const untilExpiry = entry.expiresAt - this.manager.now();
    const interval = entry.sealedId === null ? this.revalidateMs : Math.min(this.revalidateMs, SEALED_RECHECK_MS);
    const delay = Math.max(0, Math.min(untilExpiry, interval, MAX_DELAY));
    entry.timer = setTimeout(() => void this.check(entry), delay);
    // A socket keeps the process alive, its session's timer need not.
    entry.timer.unref();
  }

  /** Re-reads the session; `mustAnswer`: a store failure closes the sockets (1013) even before expiry. */
  private async check(entry: Entry<S>, mustAnswer = false): Promise<void> {
    if (entry.ended) return;
    if (entry.sealedId !== null) return this.checkSealed(entry, entry.sealedId);
    const manager = this.manager;
    let records: SessionRecord[];
    try {
      records = await withDeadline(manager.store.listByUser(entry.userId, manager.now()), manager.options.storeTimeoutMs, 'listByUser');
    } catch (error) {
      if (entry.ended || this.entries.get(entry.handle) !== entry) return;
      this.onError(error);
      if (mustAnswer || manager.now() >= entry.expiresAt) {
        this.end(entry, WS_CLOSE_TRY_AGAIN_LATER, WS_CLOSE_REASONS.storeUnavailable);
      } else {
        this.schedule(entry);
      }
      return;
    }
    // Ended or closed by its last socket while the store answered.
    if (entry.ended || this.entries.get(entry.handle) !== entry) return;
    const now = manager.now();
    const record = records.find((candidate) => candidate.handle === entry.handle);
    if (!record || record.principal === null || !isLive(record, now)) {
      // Gone before its known expiry: a revocation whose message never arrived.
      const reason = now >= entry.expiresAt ? WS_CLOSE_REASONS.expired : WS_CLOSE_REASONS.ended;
      this.end(entry, WS_CLOSE_SESSION_ENDED, reason);
      return;
    }
    entry.principal = record.principal;
    entry.expiresAt = expiresAt(record);
    entry.authenticatedAt = record.authenticatedAt;
    this.schedule(entry);
  }

  /**
   * A sealed-cookie session: its record is in the browser's cookie, so only
   * the revocation store can say it ended (sign-out, the user's epoch). Past
   * its expiry as of the handshake it ends too: a socket is not activity.
   */
  private async checkSealed(entry: Entry<S>, sealedId: string): Promise<void> {
    const manager = this.manager;
    let ended: boolean;
    try {
      ended = await manager.sealedSessionEnded(entry.userId, sealedId, entry.authenticatedAt);
    } catch (error) {
      if (entry.ended || this.entries.get(entry.handle) !== entry) return;
      this.onError(error);
      if (manager.now() >= entry.expiresAt) this.end(entry, WS_CLOSE_TRY_AGAIN_LATER, WS_CLOSE_REASONS.storeUnavailable);
      else this.schedule(entry);
      return;
    }
    if (entry.ended || this.entries.get(entry.handle) !== entry) return;
    if (ended) this.end(entry, WS_CLOSE_SESSION_ENDED, WS_CLOSE_REASONS.ended);
    else if (manager.now() >= entry.expiresAt) this.end(entry, WS_CLOSE_SESSION_ENDED, WS_CLOSE_REASONS.expired);
    else this.schedule(entry);
  }

  private end(entry: Entry<S>, code: number, reason: string): void {
    entry.ended = true;
    if (entry.timer) clearTimeout(entry.timer);
    if (this.entries.get(entry.handle) === entry) this.entries.delete(entry.handle);
    for (const socket of entry.sockets) {
      this.socketEntries.delete(socket);
      this.closeSocket(socket, code, reason);
      this.reportClose(entry, CLOSE_SLUGS[reason] ?? 'closed');
    }
    entry.sockets.clear();
  }

  /**
   * Sends the close frame, then drops the connection if the client has not
   * answered within the grace period: until the handshake completes the
   * socket could still deliver messages, and a client that never answers
   * would otherwise hold it for ws' 30-second default.
   */
  private closeSocket(socket: S, code: number, reason: string): void {
    try {
      socket.close(code, reason);
    } catch (error) {
      this.onError(error);
    }
    if (Number.isFinite(this.graceMs)) setTimeout(() => socket.terminate(), Math.min(this.graceMs, MAX_DELAY)).unref();
  }

  /** `socketOpened`/`socketClosed` events: open sockets and closes by reason, for metrics and audit. */
  private reportOpen(entry: Entry<S>): void {
    this.manager.events.emit({ type: 'socketOpened', handle: entry.handle, userId: entry.userId, at: this.manager.now(), transport: 'websocket' });
  }

  private reportClose(entry: Entry<S>, reason: SocketCloseReason): void {
    this.manager.events.emit({
      type: 'socketClosed',
      handle: entry.handle,
      userId: entry.userId,
      at: this.manager.now(),
      reason,
      transport: 'websocket',
    });
  }

  private scheduleResubscribe(): void {
    if (this.closed || this.resubscribeTimer) return;
    this.resubscribeTimer = setTimeout(() => {
      this.resubscribeTimer = null;
      // With no socket left there is nothing to close; the next `track` subscribes again.
      if (this.closed || this.entries.size === 0) return;
      this.start().catch(() => undefined);
    }, RESUBSCRIBE_MS);
    this.resubscribeTimer.unref();
  }
}

function seconds(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || Number.isNaN(value) || value <= 0) {
    throw new InvalidOptionsError(`keycard: ${name} must be a positive number of seconds (or Infinity), got ${String(value)}`);
  }
  return value;
}
