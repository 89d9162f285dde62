import type { Cluster, Redis } from 'ioredis';
import { systemClock, type Clock } from '../core/clock.js';
import { InvalidOptionsError, SessionExistsError, StoreUnavailableError } from '../core/errors.js';
import { expiresAt, type Principal, type SessionPatch, type SessionRecord } from '../core/record.js';
import type { SessionStore } from '../core/store.js';
import { RevocationListeners, refreshedMessage, storeFailure, type RevocationListener } from '../core/store-support.js';
import { Durability, mastersOf, type DurabilityOptions } from './durability.js';
import { InvalidationChannels, InvalidationFeed, republish } from './invalidation.js';
import { dataField, decodeRecord, encodeRecord } from './layout.js';
import type { StoreCoherence } from '../core/coherence.js';
import { CREATE, evalLua, FIND, INDEX, REFRESH, TAKE, UPDATE, type LuaScript } from './scripts.js';

/** What the store accepts: a standalone (or Sentinel-backed) client or a Cluster client. */
export type RedisClient = Redis | Cluster;

/**
 * Options of `RedisStore`.
 *
 * The store never closes the client it is given, and it does not change the
 * client's options: how fast a request fails during an outage is decided by
 * how the client is built. For sessions, where a request should answer 503 at
 * once rather than queue behind a dead connection, we recommend (and the
 * outage test verifies):
 *
 * ```ts
 * new Redis(url, {
 *   enableOfflineQueue: false,  // while disconnected, commands reject at once instead of queueing
 *   maxRetriesPerRequest: 0,    // commands in flight when the connection drops reject at once
 *   connectTimeout: 1000,       // a connect attempt to an unreachable host gives up after 1 s
 *   commandTimeout: 1000,       // a reply that never comes (dead peer, no RST) rejects after 1 s
 *   retryStrategy: (attempt) => Math.min(attempt * 100, 500), // keep reconnecting, at least every 0.5 s
 * });
 * ```
 *
 * `retryStrategy` must keep returning a number: returning null ends the
 * client for good and the store never recovers. Set `commandTimeout` at or
 * below the manager's `storeTimeout`. Without an offline queue, commands sent
 * before the first connection is ready are refused: create the client with
 * `lazyConnect: true` and `await client.connect()` at startup. Listen for the
 * client's `'error'` events (ioredis logs them otherwise). With ioredis'
 * defaults instead, each request during an outage waits out the manager's
 * `storeTimeout`, and the queued commands still run when Redis returns. For Cluster, put `enableOfflineQueue:
 * false` and `clusterRetryStrategy` on the Cluster options and the rest in
 * `redisOptions` (`new Cluster(nodes, { enableOfflineQueue: false,
 * clusterRetryStrategy: (n) => Math.min(n * 100, 500), redisOptions: {
 * maxRetriesPerRequest: 0, connectTimeout: 1000, commandTimeout: 1000 } })`).
 * Sentinel works through ioredis' own `sentinels`/`name` options, with the
 * same settings. With ioredis' `keyPrefix` option the store's keys get that
 * prefix too (pub/sub channels do not).
 */
export interface RedisStoreOptions {
  /**
   * Prefix of every key and of the revocation channel. Default `keycard:`.
   * Give each application (or environment) sharing a Redis its own prefix.
   */
  readonly prefix?: string;
  /** Clock for pruning the per-user index and for `refreshPrincipal`. Default: the system clock. */
  readonly clock?: Clock;
  /**
   * When sign-outs, revocations, signed-in rotations and role refreshes
   * count as done on a master with replicas (`WAIT`); see `DurabilityOptions`.
   * Default: wait for one replica when the topology has any.
   */
  readonly durability?: DurabilityOptions;
}


/** Rounds of `revokeAll`: a sign-in racing a "sign out everywhere" is caught by the next round. */
const DESTROY_ROUNDS = 3;

/**
 * Sessions in Redis: one hash per session, keyed by the session id alone (so
 * on a Cluster sessions spread over every slot), and one sorted set per user
 * as the index for device lists and revocation. Every key has a TTL.
 *
 * Each method touches one key per command (a Lua script where it must be
 * atomic), so the same code runs on standalone Redis and on Cluster. Where an
 * operation spans the session and its user's index, the session is written
 * first and the index second, and removed in the opposite order: an index
 * entry without a session is harmless garbage (pruned by `listByUser` and
 * `revokeAll`), and a session missing from its index can only come from
 * a call that failed, whose token the client therefore never received.
 *
 * An authenticated read is one EVALSHA (EVAL once per server after a restart
 * or SCRIPT FLUSH) and writes nothing unless the touch is due. No KEYS or SCAN
 * anywhere.
 *
 * Memory: a signed-in session's principal JSON (and a browser's user agent)
 * is longer than Redis' default `hash-max-listpack-value` of 64 bytes, which
 * turns its hash into a hashtable: about 1.2 KB per session (plus its share
 * of the per-user index), against about 0.6 KB with
 * `hash-max-listpack-value 256` (measured on Redis 7.0; see
 * test/redis-roundtrip.test.ts and the bench's `footprint` experiment).
 * Raise it on servers that hold many sessions.
 */
export class RedisStore implements SessionStore {
  private readonly client: RedisClient;
  private readonly prefix: string;
  private readonly clock: Clock;
  private readonly channel: string;
  private readonly listeners = new RevocationListeners();
  /** Probes in flight (`probeRevocations`): nonce → what to call when it comes back. */
  private subscriber: RedisClient | null = null;
  private subscription: Promise<void> | null = null;
  private closed = false;
  private readonly durability: Durability;
  private readonly channels: InvalidationChannels;
  private readonly feed: InvalidationFeed;
  /**
   * In-write: UPDATE, TAKE (destroy, rotate, revokeAll) and REFRESH publish
   * the key they changed from inside the script (docs/session-cache.md).
   */
  readonly coherence: StoreCoherence;

  constructor(client: RedisClient, options: RedisStoreOptions = {}) {
    if (client === null || typeof client !== 'object' || typeof client.evalsha !== 'function') {
      throw new InvalidOptionsError('keycard: RedisStore needs an ioredis Redis or Cluster client');
    }
    const prefix = options.prefix ?? 'keycard:';
    if (typeof prefix !== 'string') throw new InvalidOptionsError('keycard: RedisStore prefix must be a string');
    this.client = client;
    this.prefix = prefix;
    this.clock = options.clock ?? systemClock;
    this.channel = `${prefix}revoked`;
    this.durability = new Durability(client, options.durability);
    const keyPrefix = isCluster(client)
      ? (client.options.keyPrefix ?? client.options.redisOptions?.keyPrefix ?? '')
      : (client.options.keyPrefix ?? '');
    this.channels = new InvalidationChannels(prefix, isCluster(client), keyPrefix);
    this.feed = new InvalidationFeed(client, this.channels);
    const feed = this.feed;
    this.coherence = {
      mode: 'in-write',
      subscribe: (sink) => feed.subscribe(sink),
      current: () => feed.current(),
    };
  }

  /** The manager's store timeout bounds the replica wait (see `DurabilityOptions.timeout`). */
  configure(settings: { readonly storeTimeoutMs: number }): void {
    this.durability.useStoreTimeout(settings.storeTimeoutMs);
  }

  /** The key of a session's hash; from the id alone, so any node can be asked without a lookup. */
  sessionKey(id: string): string {
    return `${this.prefix}s:${id}`;
  }

  /** The key of a user's index. */
  userKey(userId: string): string {
    return `${this.prefix}u:${userId}`;
  }

  async find(id: string, now: number, touchInterval: number): Promise<SessionRecord | null> {
    const interval = Number.isFinite(touchInterval) ? Math.max(0, touchInterval) : -1;
    return decodeFound(id, await this.run(FIND, this.sessionKey(id), [now, interval], 'find'));
  }

  async create(record: SessionRecord): Promise<void> {
    await this.createHash(record);
    const userId = record.principal?.id;
    if (userId !== undefined) await this.index(userId, [], [record]);
  }

  async update(id: string, patch: SessionPatch): Promise<boolean> {
    const unset = (patch.unset ?? []).map(dataField);
    const key = this.sessionKey(id);
    const args: (string | number)[] = [
      ...this.publishArgs(key),
      patch.rotationDue === undefined ? '' : patch.rotationDue ? '1' : '0',
      unset.length,
      ...unset,
    ];
    for (const [field, value] of Object.entries(patch.set ?? {})) args.push(dataField(field), JSON.stringify(value));
    const updated = (await this.run(UPDATE, key, args, 'update')) === 1;
    if (updated) await this.delivered([key]);
    return updated;
  }

  /**
   * Deletes the old hash atomically (learning whose it was), and only then
   * creates the new one: the two ids are in different slots, so this is the
   * order that keeps them from ever both existing and keeps a destroyed id
   * from being revived. The index moves in one script when the user is the same.
   */
  async rotate(oldId: string, next: SessionRecord): Promise<boolean> {
    const taken = await this.take(oldId);
    if (!taken) return false;
    // The old id must stay dead through a failover only when it was signed in.
    await Promise.all([this.createHash(next), taken.userId === null ? undefined : this.confirm([this.sessionKey(oldId)])]);
    const oldUser = taken.userId;
    const newUser = next.principal?.id;
    if (newUser !== undefined && newUser === oldUser) {
      await this.index(newUser, [oldId], [next]);
    } else {
      await Promise.all([
        newUser === undefined ? undefined : this.index(newUser, [], [next]),
        oldUser === null ? undefined : this.index(oldUser, [oldId], []),
      ]);
    }
    return true;
  }

  async destroy(id: string): Promise<boolean> {
    const taken = await this.take(id);
    // Also when nothing was found: a retried sign-out whose first attempt was not durable is confirmed now.
    if (taken?.userId !== null) await this.confirm([this.sessionKey(id)]);
    if (!taken) return false;
    await Promise.all([taken.userId === null ? undefined : this.index(taken.userId, [id], []), this.publish([taken.handle], this.sessionKey(id))]);
    return true;
  }

  async listByUser(userId: string, now: number): Promise<SessionRecord[]> {
    const ids = await this.call('listByUser', () => this.client.zrangebyscore(this.userKey(userId), `(${now}`, '+inf'));
    if (ids.length === 0) return [];
    // One command per session (their keys are in different slots), sent together: one round trip in practice.
    // FIND without a touch rather than HGETALL: its flat reply is the same whatever the client's reply mapping.
    const replies = await Promise.all(ids.map((id) => this.run(FIND, this.sessionKey(id), [now, -1], 'listByUser')));
    const live: SessionRecord[] = [];
    const gone: string[] = [];
    ids.forEach((id, i) => {
      const record = decodeFound(id, replies[i]);
      if (!record) gone.push(id);
      else if (record.principal?.id === userId && expiresAt(record) > now) live.push(record);
    });
    if (gone.length > 0) await this.index(userId, gone, [], now);
    return live.sort((a, b) => a.createdAt - b.createdAt);
  }

  async revokeAll(userId: string, exceptId?: string): Promise<string[]> {
    const handles: string[] = [];
    const seen = new Set<string>(exceptId === undefined ? [] : [exceptId]);
    let members = await this.call('revokeAll', () => this.client.zrange(this.userKey(userId), 0, '-1'));
    for (let round = 0; round < DESTROY_ROUNDS; round++) {
      const targets = members.filter((id) => !seen.has(id));
      if (targets.length === 0) break;
      for (const id of targets) seen.add(id);
      const taken = await Promise.all(targets.map((id) => this.take(id, userId)));
      await this.confirm(targets.map((id) => this.sessionKey(id)));
      for (const entry of taken) if (entry) handles.push(entry.handle);
      // Removing what was processed returns what remains: anything new is a
      // session created or rotated in while this ran, and gets the next round.
      members = await this.index(userId, targets, []);
    }
    if (handles.length > 0) await this.publish(handles, this.userKey(userId));
    return handles;
  }

  async refreshPrincipal(principal: Principal): Promise<number> {
    const now = this.clock.now();
    const json = JSON.stringify(principal);
    const ids = await this.call('refreshPrincipal', () => this.client.zrange(this.userKey(principal.id), 0, '-1'));
    const results = await Promise.all(
      ids.map((id) => {
        const key = this.sessionKey(id);
        return this.runSecure(REFRESH, key, [...this.publishArgs(key), principal.id, now, json], 'refreshPrincipal');
      }),
    );
    // New roles (a demotion above all) must survive a failover like a revocation.
    const changed = ids.filter((_, i) => results[i] === 1).map((id) => this.sessionKey(id));
    await this.confirm(changed);
    await this.delivered(changed);
    const gone = ids.filter((_, i) => results[i] === -1);
    if (gone.length > 0) await this.index(principal.id, gone, [], now);
    // Open sockets of the user re-read their roles now (SocketRegistry), on every instance.
    if (changed.length > 0) await this.call('publish', () => this.client.publish(this.channel, refreshedMessage(principal.id)));
    return changed.length;
  }

  /**
   * Subscribes on a connection duplicated from the client (a subscribed
   * connection can run nothing else), opened on first use and shared by all
   * listeners. Resolves once Redis has acknowledged the SUBSCRIBE, so a
   * revocation published afterwards is never missed.
   */
  async onRevoked(listener: RevocationListener): Promise<() => Promise<void>> {
    if (this.closed) throw new StoreUnavailableError('redis store: onRevoked after close');
    const remove = this.listeners.add(listener);
    try {
      await this.subscribe();
    } catch (error) {
      remove();
      throw error;
    }
    return async () => {
      // The subscription stays until close(): one idle connection is cheaper than racing re-subscribes.
      remove();
    };
  }

  async ping(): Promise<void> {
    await this.call('ping', () => this.client.ping());
  }

  async probeRevocations(timeoutMs: number): Promise<'up' | 'off'> {
    if (this.listeners.size === 0 || !this.subscription) return 'off';
    await this.subscription;
    await this.listeners.probe(
      timeoutMs,
      (message) => this.call('probeRevocations', () => this.client.publish(this.channel, message)),
      'redis store',
      'subscription lost',
    );
    return 'up';
  }

  /** Closes the subscriber connection it opened; the client it was given stays open. */
  async close(): Promise<void> {
    this.closed = true;
    this.listeners.clear();
    const subscriber = this.subscriber;
    this.subscriber = null;
    this.subscription = null;
    // disconnect, not quit: quit waits for a reply that never comes while Redis is down.
    subscriber?.disconnect();
    this.durability.close();
    this.feed.close();
  }

  // ——— internals ———

  private async createHash(record: SessionRecord): Promise<void> {
    const created = await this.run(CREATE, this.sessionKey(record.id), [Math.ceil(expiresAt(record)), ...encodeRecord(record)], 'create');
    if (created !== 1) throw new SessionExistsError();
  }

  /** Deletes a session (only if it is `owner`'s, when given); its handle and user, or null when there was none. */
  private async take(id: string, owner?: string): Promise<{ handle: string; userId: string | null } | null> {
    const key = this.sessionKey(id);
    const reply = await this.runSecure(TAKE, key, [...this.publishArgs(key), ...(owner === undefined ? [] : [owner])], 'destroy');
    if (!isStringArray(reply) || reply.length === 0) return null;
    await this.delivered([key]);
    return { handle: reply[0] as string, userId: reply[1] ?? null };
  }

  /**
   * Returns once Redis has written the invalidations published by the scripts
   * that changed `keys` to every subscriber's socket: it writes all pending
   * output before it processes a later command, so the answer to a cheap
   * command sent after the script's reply proves the earlier writes done
   * (docs/session-cache.md). Without it, a Redis preempted between writing
   * the writer's reply and the subscribers' messages (seen on a loaded
   * 2-core machine: a role change read stale on another instance) lets the
   * writer answer first. On a Cluster that command is the invalidation
   * published again at the node serving the key's slot (`republish`): during
   * a slot migration the script may have run on the importing node, whose
   * publish no feed hears (docs/session-cache.md, "slot migration").
   */
  private async delivered(keys: readonly string[]): Promise<void> {
    if (keys.length === 0) return;
    const client = this.client;
    await this.call('update', () =>
      Promise.all(keys.map((key) => (isCluster(client) ? republish(client, this.channels, key) : client.exists(key)))),
    );
  }

  /** The invalidation arguments every changing script takes first: where it publishes the key it changed. */
  private publishArgs(key: string): [string, string] {
    const target = this.channels.forKey(key);
    return [target.command, target.channel];
  }

  /** Removes and adds index entries of one user, prunes the absolutely expired, re-arms the TTL; returns the remaining ids. */
  private async index(userId: string, remove: readonly string[], add: readonly SessionRecord[], now = this.clock.now()): Promise<string[]> {
    const args: (string | number)[] = [now, remove.length, ...remove];
    for (const record of add) args.push(record.absoluteExpiresAt, record.id);
    const reply = await this.run(INDEX, this.userKey(userId), args, 'index');
    return isStringArray(reply) ? reply : [];
  }

  /**
   * Publishes revoked handles. On a Cluster (where a PUBLISH reaches every
   * node's subscribers) it goes to the master serving `nearKey`, which the
   * operation has just written: ioredis sends a keyless command to a random
   * node, and a frozen one (its connection still ready) held the sign-out for
   * the whole command timeout (CI, 2026-12-03).
   */
  private async publish(handles: readonly string[], nearKey: string): Promise<void> {
    const client = this.client;
    const message = JSON.stringify(handles);
    await this.call('publish', () =>
      isCluster(client) ? (mastersOf(client, [nearKey]).values().next().value as Redis).publish(this.channel, message) : client.publish(this.channel, message),
    );
  }

  private subscribe(): Promise<void> {
    if (this.subscription) return this.subscription;
    // lazyConnect plus an explicit connect: the duplicate inherits the client's
    // options, and with the recommended enableOfflineQueue: false a SUBSCRIBE
    // sent before the connection is ready would be refused.
    const subscriber: RedisClient = isCluster(this.client)
      ? this.client.duplicate([], { lazyConnect: true })
      : this.client.duplicate({ lazyConnect: true });
    // The subscriber reconnects and re-subscribes by itself (ioredis
    // autoResubscribe); outages are reported through the main client's calls.
    subscriber.on('error', () => undefined);
    subscriber.on('message', (channel: string, message: string) => {
      if (channel === this.channel) this.listeners.deliver(message);
    });
    this.subscriber = subscriber;
    const subscription = this.call('onRevoked', async () => {
      await subscriber.connect();
      await subscriber.subscribe(this.channel);
    });
    this.subscription = subscription;
    subscription.catch(() => {
      // Let the next onRevoked try again on a fresh connection.
      if (this.subscription !== subscription) return;
      this.subscription = null;
      this.subscriber = null;
      subscriber.disconnect();
    });
    return subscription;
  }

  /** EVALSHA, falling back to EVAL when this server does not have the script cached yet. */
  private run(script: LuaScript, key: string, args: readonly (string | number)[], what: string): Promise<unknown> {
    return this.call(what, () => evalLua(this.client, script, key, args));
  }

  /** Waits for the replicas a security write needs (see Durability); failures are StoreUnavailableError. */
  private confirm(keys: readonly string[]): Promise<void> {
    return this.call('replication', () => this.durability.confirm(keys));
  }

  /** Like `run`, on the connection whose writes `durability.confirm` waits for. */
  private runSecure(script: LuaScript, key: string, args: readonly (string | number)[], what: string): Promise<unknown> {
    return this.call(what, async () => evalLua(await this.durability.writer(), script, key, args));
  }

  /** Client failures become StoreUnavailableError (the contract's one failure), the original kept as `cause`. */
  private async call<T>(what: string, operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      throw storeFailure(error, `redis store: ${what} failed`);
    }
  }
}

/** A FIND reply (one JSON string of the hash's flat field list, '' when absent) as a record, or null. */
function decodeFound(id: string, reply: unknown): SessionRecord | null {
  if (typeof reply !== 'string' || reply.length === 0) return null;
  const fields: unknown = JSON.parse(reply);
  return Array.isArray(fields) ? decodeRecord(id, fields) : null;
}

function isCluster(client: RedisClient): client is Cluster {
  return 'isCluster' in client && client.isCluster === true;
}

function isStringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((item) => typeof item === 'string');
}
