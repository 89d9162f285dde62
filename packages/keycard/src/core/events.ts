/**
 * Session lifecycle and security events for audit logs and metrics. They
 * carry the public handle, never a token or store id, and never an e-mail
 * address or a client IP.
 *
 * Lifecycle: `created`, `rotated`, `expired`, `destroyed`, `revoked`.
 *
 * Security (what an attack review wants in the log):
 * - `signInFailed` — from `LoginThrottle` (its `events` option): `reason:
 *   'throttled'` when `check` refuses, `'bad-password'` from `recordFailure`.
 * - `lockedOut` — from `LoginThrottle.recordFailure` when a failure fills a
 *   counter to its limit; `reason` is the scope (`account`, `ip`, `device`).
 * - `csrfRefused` — from the CSRF guard; `reason` is `cross-site`, `missing`
 *   or `invalid`.
 * - `storeUnavailable` — a store call failed or timed out; `reason` names the
 *   store and the operation (`find`, `rate-limit store: consume`, ...).
 *
 * Sign-in events name the account only by `subject`, a prefix of the SHA-256
 * of its normalised form (the throttle's key): enough to correlate lines,
 * without an address in the log. `handle` and `userId` are null for them.
 */
export type SessionEventType =
  | 'created'
  | 'rotated'
  | 'expired'
  | 'destroyed'
  | 'revoked'
  | 'signInFailed'
  | 'lockedOut'
  | 'csrfRefused'
  | 'storeUnavailable';

export interface SessionEvent {
  readonly type: SessionEventType;
  /** Public handle of the session (null for sign-in failures before any session). */
  readonly handle: string | null;
  readonly userId: string | null;
  /** Milliseconds since the epoch, from the injected clock. */
  readonly at: number;
  /** Why, for revocations and failures: 'sign-out-everywhere', 'session-limit', 'bad-password', … */
  readonly reason?: string;
  /** Sign-in events: a pseudonym of the account (hash prefix), never the account itself. */
  readonly subject?: string;
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
