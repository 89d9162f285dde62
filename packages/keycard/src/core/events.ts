/**
 * Session lifecycle and security events for audit logs and metrics. They
 * carry the public handle, never a token or store id, and never an e-mail
 * address; the client IP only in `ip`, for audit logs (never a metric label,
 * never in keycard's own `SecurityLog` lines).
 *
 * Lifecycle: `created`, `signedIn`, `rotated`, `expired`, `destroyed` (sign-out),
 * `revoked` (`reason`: 'revoked', 'session-limit', …).
 *
 * Refusals and failures:
 * - `signInFailed` comes from `LoginThrottle` when it is given these events
 *   (its `events` option): `reason: 'throttled'`, `scope` 'account' or 'ip',
 *   `handle` and `userId` null, never the account or the address.
 *   Applications may emit it themselves for other failures (e.g. `reason:
 *   'bad-password'`), with the same care.
 * - `lockedOut` comes from `LoginThrottle.recordFailure` when a failure fills
 *   a counter to its limit; `scope` is the counter ('account', 'ip', 'device').
 *   `recordFailure` also emits `signInFailed` with `reason: 'bad-password'`.
 *   Sign-in events from the throttle name the account only by `subject`, a
 *   prefix of the SHA-256 of its normalised form: lines can be correlated
 *   without an address in the log.
 * - `csrfRefused`: the CSRF guard refused an unsafe request; `reason` is the
 *   error code (`KEYCARD_CSRF_CROSS_SITE`, `…_MISSING`, `…_INVALID`).
 * - `storeUnavailable`: a store call failed or timed out (HTTP 503);
 *   `reason` is the operation (`find`, `destroy`, …).
 * - `socketOpened` / `socketClosed`: a signed-in WebSocket was accepted /
 *   closed (plain WebSocket, socket.io or a GraphQL subscription); `reason`
 *   is a slug: keycard closed it ('session-ended', 'session-expired',
 *   'store-unavailable', 'shutdown'), a limit did ('message-too-big',
 *   'rate-limited'), the peer closed with 1008 ('policy-violation'), or it
 *   ended otherwise ('closed').
 *
 * Expiry: `expired` is emitted when a request presents a session found
 * expired. A store that drops expired sessions on its own emits nothing for
 * them when it cannot say whose they were: Redis removes a hash at its TTL
 * without telling anyone (keyspace notifications carry the key alone, are
 * not delivered reliably and are off by default), and PostgreSQL's sweep
 * deletes rows in bulk; `MemoryStore` and `PostgresStore` report how many
 * rows their sweeps removed through their `onSwept` options instead.
 */
export type SessionEventType =
  | 'created'
  | 'signedIn'
  | 'rotated'
  | 'expired'
  | 'destroyed'
  | 'revoked'
  | 'signInFailed'
  | 'lockedOut'
  | 'csrfRefused'
  | 'storeUnavailable'
  | 'socketOpened'
  | 'socketClosed';

/** How a request presented its session (a WebSocket upgrade carries the cookie). */
export type EventTransport = 'cookie' | 'bearer' | 'websocket';

export interface SessionEvent {
  readonly type: SessionEventType;
  /** Public handle of the session (null for sign-in failures before any session). */
  readonly handle: string | null;
  readonly userId: string | null;
  /** Milliseconds since the epoch, from the injected clock. */
  readonly at: number;
  /** Why, for revocations, refusals and failures: 'session-limit', 'throttled', 'KEYCARD_CSRF_MISSING', 'find', … */
  readonly reason?: string;
  /** Sign-in events from `LoginThrottle`: a pseudonym of the account (hash prefix), never the account itself. */
  readonly subject?: string;
  /** For throttled sign-ins and lockouts: which limit refused or filled (never the account or address itself). */
  readonly scope?: 'account' | 'ip' | 'device';
  /** How the request that caused the event presented its session, when there was one. */
  readonly transport?: EventTransport;
  /** The client address as the session recorded it (or the request, before any session). For audit logs: never a metric label. */
  readonly ip?: string | null;
  /** The user agent as the session recorded it (or the request, before any session). */
  readonly userAgent?: string | null;
}

export type SessionEventListener = (event: SessionEvent) => void;

/** A tiny typed emitter; a listener that throws is isolated from the request. */
export class SessionEvents {
  private readonly listeners = new Set<{ type: SessionEventType | '*'; fn: SessionEventListener }>();

  /** Subscribes to one type, or to all with '*'. Returns the unsubscribe function. */
  on(type: SessionEventType | '*', fn: SessionEventListener): () => void {
    const entry = { type, fn };
    this.listeners.add(entry);
    return () => this.listeners.delete(entry);
  }

  emit(event: SessionEvent): void {
    for (const { type, fn } of this.listeners) {
      if (type !== '*' && type !== event.type) continue;
      try {
        fn(event);
      } catch {
        // An audit listener failing must not fail the request that caused the event.
      }
    }
  }
}
