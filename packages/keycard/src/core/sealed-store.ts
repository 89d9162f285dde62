import type { Clock } from './clock.js';
import { UnsupportedOperationError } from './errors.js';
import type { Principal, SessionPatch, SessionRecord } from './record.js';
import type { RevocationStore } from './revocation.js';
import type { SessionStore } from './store.js';

/**
 * The store of sealed-cookie sessions: there is none. Each record travels
 * sealed in its own cookie, so creating, updating and rotating store nothing
 * (the session re-issues its cookie instead), and finding is never asked.
 * What a cookie cannot do by itself goes to the optional `RevocationStore`:
 * a sign-out marks the session revoked, "sign out everywhere" moves the
 * user's epoch. Without one, both are refused or local (see the README's
 * table of what the mode guarantees).
 */
export class SealedStore implements SessionStore {
  /** No per-user index: the default session cap does not apply. */
  readonly userIndex = false;
  constructor(
    private readonly revocation: RevocationStore | null,
    private readonly clock: Clock,
    /** The longest a session can live (milliseconds): how long a revocation must be remembered. */
    private readonly maxLifetimeMs: number,
  ) {}

  async find(): Promise<SessionRecord | null> {
    return null;
  }

  async create(): Promise<void> {}

  async update(_id: string, _patch: SessionPatch): Promise<boolean> {
    return true;
  }

  /** The old cookie stays valid as the session it was (e.g. anonymous) unless marked: a signed-in old id is marked revoked. */
  async rotate(oldId: string, _next: SessionRecord): Promise<boolean> {
    await this.revocation?.revoke(oldId, this.clock.now() + this.maxLifetimeMs);
    return true;
  }

  /** Sign-out: with a revocation store, every copy of the cookie stops working; without one, only this browser's is cleared. */
  async destroy(id: string): Promise<boolean> {
    await this.revocation?.revoke(id, this.clock.now() + this.maxLifetimeMs);
    return true;
  }

  async listByUser(): Promise<SessionRecord[]> {
    throw new UnsupportedOperationError('sealed-cookie sessions keep no list of a user’s sessions; use a session store for device lists');
  }

  /** Every session of the user signed in before now ends (the caller re-issues the one it keeps). */
  async revokeAll(userId: string): Promise<string[]> {
    if (!this.revocation) {
      throw new UnsupportedOperationError('signing a user out everywhere with sealed-cookie sessions needs sealed.revocation (a RevocationStore)');
    }
    await this.revocation.bumpEpoch(userId, this.clock.now(), this.maxLifetimeMs);
    return [];
  }

  async refreshPrincipal(_principal: Principal): Promise<number> {
    throw new UnsupportedOperationError('a sealed session’s principal cannot be changed from elsewhere; revoke the user’s sessions instead');
  }

  async onRevoked(): Promise<() => Promise<void>> {
    return async () => undefined;
  }

  async ping(): Promise<void> {}

  /** The revocation store is the caller's: it stays open. */
  async close(): Promise<void> {}
}
