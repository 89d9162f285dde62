import { systemClock, type Clock } from '../core/clock.js';
import type { RevocationState, RevocationStore } from '../core/revocation.js';

/**
 * Revocation epochs and markers in this process: for tests and a single
 * instance. Several instances need a shared one (`RedisRevocationStore`).
 */
export class MemoryRevocationStore implements RevocationStore {
  private readonly epochs = new Map<string, { epoch: number; until: number }>();
  private readonly revoked = new Map<string, number>();

  constructor(private readonly clock: Clock = systemClock) {}

  async check(userId: string, sessionId: string): Promise<RevocationState> {
    const now = this.clock.now();
    const epoch = this.epochs.get(userId);
    if (epoch && epoch.until <= now) this.epochs.delete(userId);
    const until = this.revoked.get(sessionId);
    if (until !== undefined && until <= now) this.revoked.delete(sessionId);
    return { epoch: epoch && epoch.until > now ? epoch.epoch : 0, revoked: until !== undefined && until > now };
  }

  async bumpEpoch(userId: string, at: number, keepFor: number): Promise<void> {
    const current = this.epochs.get(userId);
    this.epochs.set(userId, { epoch: Math.max(at, current?.epoch ?? 0), until: this.clock.now() + keepFor });
  }

  async revoke(sessionId: string, until: number): Promise<void> {
    if (until > this.clock.now()) this.revoked.set(sessionId, until);
  }

  async close(): Promise<void> {
    this.epochs.clear();
    this.revoked.clear();
  }
}
