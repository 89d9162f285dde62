import { randomBytes } from 'node:crypto';
import { InvalidOptionsError, KeycardError, StoreUnavailableError } from './errors.js';

/*
 * Plumbing every store implementation shares (memory, Redis, PostgreSQL, the
 * connect adapter, the rate-limit and revocation stores): the revocation
 * listener fan-out, option checks with keycard's messages, and how a
 * backend's failure becomes a StoreUnavailableError.
 */

import type { RevocationListener } from './store.js';

export type { RevocationListener };

/** The channel message of a principal refresh of `userId` (an object: subscribers that only know handle arrays ignore it). */
export function refreshedMessage(userId: string): string {
  return JSON.stringify({ refreshed: userId });
}

/**
 * The `onRevoked` subscribers of one store. `publish` calls each with the
 * revoked handles; a subscriber that throws is isolated (the revocation
 * stands, the others still hear of it).
 */
export class RevocationListeners {
  private readonly listeners = new Set<RevocationListener>();
  /** Probes sent by this process and not heard back yet, by nonce. */
  private readonly probes = new Map<string, () => void>();

  get size(): number {
    return this.listeners.size;
  }

  /** Adds `listener`; returns the function that removes it. */
  add(listener: RevocationListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  clear(): void {
    this.listeners.clear();
  }

  /** Ended sessions by `handles`; or, with no handles, a principal refresh of `refreshedUserId`. */
  publish(handles: readonly string[], refreshedUserId?: string): void {
    for (const listener of this.listeners) {
      try {
        if (refreshedUserId === undefined) listener(handles);
        else listener([], refreshedUserId);
      } catch {
        // A subscriber's failure must not undo the revocation or stop the others from hearing of it.
      }
    }
  }

  /**
   * Handles a message from a revocation channel (Redis pub/sub, PostgreSQL
   * NOTIFY): a JSON array of handles is published; `{ "refreshed": userId }`
   * (`refreshedMessage`) is a principal refresh; a `{ "probe": nonce }`
   * answers this process's own `probe`; anything else is someone else's
   * message on the channel and is ignored.
   */
  deliver(message: string): void {
    let parsed: unknown;
    try {
      parsed = JSON.parse(message);
    } catch {
      return;
    }
    if (typeof parsed === 'object' && parsed !== null && typeof (parsed as { probe?: unknown }).probe === 'string') {
      this.probes.get((parsed as { probe: string }).probe)?.();
      return;
    }
    const refreshed = (parsed as { refreshed?: unknown } | null)?.refreshed;
    if (typeof refreshed === 'string' && refreshed.length > 0) {
      this.publish([], refreshed);
      return;
    }
    if (!Array.isArray(parsed) || parsed.length === 0 || !parsed.every((handle) => typeof handle === 'string')) return;
    this.publish(parsed as string[]);
  }

  /**
   * Sends a probe through the channel with `send` and resolves when it comes
   * back through `deliver` (see `SessionStore.probeRevocations`); rejects
   * with StoreUnavailableError after `timeoutMs` (`subject` names the store,
   * `lost` what a missing answer means),
   * or with `send`'s failure. Probes are objects, not arrays, so no
   * subscriber takes one for a revocation.
   */
  async probe(timeoutMs: number, send: (message: string) => Promise<unknown>, subject: string, lost: string): Promise<void> {
    const nonce = randomBytes(12).toString('base64url');
    const heard = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.probes.delete(nonce);
        reject(new StoreUnavailableError(`${subject}: a revocation probe did not come back within ${timeoutMs} ms (${lost})`));
      }, timeoutMs);
      this.probes.set(nonce, () => {
        clearTimeout(timer);
        this.probes.delete(nonce);
        resolve();
      });
    });
    try {
      await send(JSON.stringify({ probe: nonce }));
    } catch (error) {
      this.probes.get(nonce)?.();
      throw error;
    }
    await heard;
  }
}

/** A store method's failure as keycard reports it: keycard errors pass, anything else is a StoreUnavailableError with the original as `cause`. */
export function storeFailure(error: unknown, message: string): KeycardError {
  return error instanceof KeycardError ? error : new StoreUnavailableError(message, { cause: error });
}

/** `value` (or `fallback` when absent) as a positive integer, or InvalidOptionsError naming `owner` and `option`. */
export function positiveIntegerOption(owner: string, option: string, value: number | undefined, fallback: number): number {
  const resolved = value ?? fallback;
  if (!Number.isInteger(resolved) || resolved < 1) {
    throw new InvalidOptionsError(`keycard: ${owner} ${option} must be a positive integer, got ${String(value)}`);
  }
  return resolved;
}

/** `value` (or `fallback` when absent) as a positive, finite number of `unit`, or InvalidOptionsError. */
export function positiveNumberOption(owner: string, option: string, value: number | undefined, fallback: number, unit: string): number {
  const resolved = value ?? fallback;
  if (typeof resolved !== 'number' || !Number.isFinite(resolved) || resolved <= 0) {
    throw new InvalidOptionsError(`keycard: ${owner} ${option} must be a positive number of ${unit}, got ${String(value)}`);
  }
  return resolved;
}

/** A sweep interval in seconds (`fallback` when absent; 0 turns the sweep off), or InvalidOptionsError. */
export function sweepIntervalOption(owner: string, value: number | undefined, fallback: number): number {
  const resolved = value ?? fallback;
  if (typeof resolved !== 'number' || !Number.isFinite(resolved) || resolved < 0) {
    throw new InvalidOptionsError(`keycard: ${owner} sweepInterval must be a number of seconds >= 0, got ${String(value)}`);
  }
  return resolved;
}
