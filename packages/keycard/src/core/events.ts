/**
 * Session lifecycle events for audit logs and metrics. They carry the public
 * handle, never a token or store id.
 *
 * `signInFailed` comes from `LoginThrottle` when it is given these events (its
 * `events` option): `reason: 'throttled'`, `handle` and `userId` null, never the
 * account or the address. Applications may emit it themselves for other
 * failures (e.g. `reason: 'bad-password'`), with the same care.
 */
export type SessionEventType = 'created' | 'rotated' | 'expired' | 'destroyed' | 'revoked' | 'signInFailed';

export interface SessionEvent {
  readonly type: SessionEventType;
  /** Public handle of the session (null for sign-in failures before any session). */
  readonly handle: string | null;
  readonly userId: string | null;
  /** Milliseconds since the epoch, from the injected clock. */
  readonly at: number;
  /** Why, for revocations and failures: 'sign-out-everywhere', 'session-limit', 'bad-password', … */
  readonly reason?: string;
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
