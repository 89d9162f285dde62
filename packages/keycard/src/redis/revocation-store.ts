import { InvalidOptionsError, StoreUnavailableError } from '../core/errors.js';
import type { RevocationState, RevocationStore } from '../core/revocation.js';

/** The part of an ioredis client (standalone, Sentinel or Cluster) this store uses. */
export interface RedisRevocationClient {
  get(key: string): Promise<string | null>;
  exists(key: string): Promise<number>;
  set(key: string, value: string, mode: 'PX' | 'PXAT', milliseconds: number): Promise<unknown>;
}

export interface RedisRevocationStoreOptions {
  /** Prefix of every key. Default `keycard:sealed:`. */
  readonly prefix?: string;
}

/**
 * Revocation epochs and markers in Redis, shared by every instance: for
 * sealed-cookie sessions. `epoch:<user>` holds an instant, kept as long as
 * the longest session; `revoked:<session>` expires when that session would
 * have.
 * Keys of one user and of one session live apart, so a Cluster needs no hash
 * tags: `check` reads both at once, in two pipelined commands.
 */
export class RedisRevocationStore implements RevocationStore {
  private readonly prefix: string;

  constructor(
    private readonly client: RedisRevocationClient,
    options: RedisRevocationStoreOptions = {},
  ) {
    if (client === null || typeof client !== 'object' || typeof client.exists !== 'function') {
      throw new InvalidOptionsError('keycard: RedisRevocationStore needs an ioredis Redis or Cluster client');
    }
    this.prefix = options.prefix ?? 'keycard:sealed:';
  }

  async check(userId: string, sessionId: string): Promise<RevocationState> {
    const [epoch, revoked] = await this.call(Promise.all([this.client.get(this.epochKey(userId)), this.client.exists(this.revokedKey(sessionId))]));
    return { epoch: epoch === null ? 0 : Number(epoch), revoked: revoked === 1 };
  }

  async bumpEpoch(userId: string, at: number, keepFor: number): Promise<void> {
    await this.call(this.client.set(this.epochKey(userId), String(Math.floor(at)), 'PX', Math.max(1, Math.ceil(keepFor))));
  }

  async revoke(sessionId: string, until: number): Promise<void> {
    await this.call(this.client.set(this.revokedKey(sessionId), '1', 'PXAT', Math.ceil(until)));
  }

  /** The client is the caller's: nothing to release. */
  async close(): Promise<void> {}

  private epochKey(userId: string): string {
    return `${this.prefix}epoch:${userId}`;
  }

  private revokedKey(sessionId: string): string {
    return `${this.prefix}revoked:${sessionId}`;
  }

  private async call<T>(operation: Promise<T>): Promise<T> {
    try {
      return await operation;
    } catch (error) {
      throw new StoreUnavailableError('Redis did not answer the revocation check', { cause: error });
    }
  }
}
