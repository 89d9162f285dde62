import { createHash } from 'node:crypto';
import { systemClock, type Clock } from './clock.js';
import type { SessionEvent, SessionEvents, SessionEventType } from './events.js';

/** The event types an attack review wants in the log (see events.ts). */
export const SECURITY_EVENT_TYPES: readonly SessionEventType[] = ['signInFailed', 'lockedOut', 'csrfRefused', 'storeUnavailable'];

/** One line per outage and operation at most this often: an outage fails every request, the log need not. */
const OUTAGE_LINE_INTERVAL_MS = 10_000;

/** A short pseudonym for an id: log lines can be correlated, but show no handle or user id. */
function hashed(value: string): string {
  return createHash('sha256').update(value).digest('base64url').slice(0, 12);
}

/**
 * The log line for a security event, or null for other events. Ids appear
 * only hashed (`user`, `session`); accounts only as the throttle's subject
 * (a hash prefix); never an e-mail, an IP, a token or a store key.
 */
export function securityLogLine(event: SessionEvent): string | null {
  if (!SECURITY_EVENT_TYPES.includes(event.type)) return null;
  const parts = [`security: ${event.type}`];
  if (event.reason !== undefined) parts.push(`${event.type === 'lockedOut' ? 'scope' : 'reason'}=${event.reason}`);
  if (event.subject !== undefined) parts.push(`account=${event.subject}`);
  if (event.userId !== null) parts.push(`user=${hashed(event.userId)}`);
  if (event.handle !== null) parts.push(`session=${hashed(event.handle)}`);
  return parts.join(' ');
}

/**
 * Writes security events to a log as they happen: failed sign-ins,
 * lockouts, CSRF refusals, store outages. Outage lines are coalesced (one
 * per operation per 10 s, with the count of the ones left out), since during
 * an outage every request reports one. Framework-free; keycard/nest installs
 * one on the session manager's events, writing to Nest's Logger.
 */
export class SecurityLog {
  private readonly lastOutageLine = new Map<string, { at: number; suppressed: number }>();
  private readonly unsubscribe: () => void;

  constructor(
    events: SessionEvents,
    private readonly write: (line: string) => void,
    private readonly clock: Clock = systemClock,
  ) {
    this.unsubscribe = events.on('*', (event) => this.record(event));
  }

  /** Stops listening. */
  close(): void {
    this.unsubscribe();
  }

  private record(event: SessionEvent): void {
    const line = securityLogLine(event);
    if (line === null) return;
    if (event.type !== 'storeUnavailable') return this.write(line);
    const key = event.reason ?? '';
    const now = this.clock.now();
    const last = this.lastOutageLine.get(key);
    if (last && now - last.at < OUTAGE_LINE_INTERVAL_MS) {
      last.suppressed++;
      return;
    }
    this.lastOutageLine.set(key, { at: now, suppressed: 0 });
    this.write(last && last.suppressed > 0 ? `${line} (and ${last.suppressed} more since the last line)` : line);
  }
}
