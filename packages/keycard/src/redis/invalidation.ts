import calculateSlot from 'cluster-key-slot';
import type { Cluster, Redis } from 'ioredis';
import { FEED_HEARTBEAT_MS, FEED_MAX_LAG_MS, InvalidationSinks, type InvalidationSink } from '../core/coherence.js';

/**
 * The session cache's invalidation feed on Redis (docs/session-cache.md):
 * the write scripts publish the key they changed, from inside the script, on
 * the channel of that key's slot; this module names those channels and keeps
 * one subscribed connection per Redis server that runs the scripts, watching
 * it for loss (flush) and lag (bypass).
 */

const SLOTS = 16_384;
/**
 * SSUBSCRIBE commands in flight at once while a master's subscription is
 * (re)built; the event loop gets a turn between batches. 1 024 at once held
 * the loop for up to 90 ms per batch (docs/session-cache.md, "Cluster").
 */
const CHUNK = 256;
/**
 * A Cluster connection whose heartbeat has gone unanswered this long counts
 * as lost: its master may be frozen or cut off and its slots failed over to a
 * replica, which a silent socket never reports. Above the lag bound (a late
 * feed bypasses first) and above a GC pause; below Cluster's usual failover time.
 */
const SILENT_LOSS_MS = 4 * FEED_MAX_LAG_MS;
/**
 * A (re)subscription with nothing acknowledged for this long is abandoned and
 * retried (a frozen node accepts TCP). Counted from the last acknowledged
 * batch, not from the start: on a starved process a whole Cluster
 * subscription can take longer, and abandoning one that progresses made every
 * retry redo the same work, which kept the process starved (CI, 2026-12-03).
 */
const START_TIMEOUT_MS = 2000;
/** Between attempts to subscribe the masters that are not subscribed yet. */
const RETRY_MS = 500;

/** What a write script is given to publish with: the command and the channel (both empty: publish nothing). */
export interface PublishTarget {
  readonly command: 'PUBLISH' | 'SPUBLISH';
  readonly channel: string;
}

let slotTags: string[] | null = null;

/**
 * For every hash slot, a short string that hashes to it: a channel named
 * `…{tag}` is in that slot, which is what lets a script on a Cluster node
 * SPUBLISH on it (a script may only touch its own slot). Built once (about
 * 160 000 CRC16s, a few milliseconds).
 */
function tagOfSlot(slot: number): string {
  if (slotTags === null) {
    const tags = new Array<string>(SLOTS);
    let found = 0;
    for (let n = 0; found < SLOTS; n++) {
      const tag = n.toString(36);
      const s = calculateSlot(tag);
      if (tags[s] === undefined) {
        tags[s] = tag;
        found++;
      }
    }
    slotTags = tags;
  }
  return slotTags[slot] as string;
}

/** The invalidation channels of one store: one on standalone and Sentinel, one per slot on a Cluster. */
export class InvalidationChannels {
  private readonly base: string;

  constructor(
    prefix: string,
    readonly cluster: boolean,
    /** ioredis' `keyPrefix`: part of every key Redis sees, so of its slot too. */
    private readonly keyPrefix: string,
  ) {
    this.base = `${prefix}inv`;
  }

  /** Where a script writing `key` (as the store names it) publishes. */
  forKey(key: string): PublishTarget {
    if (!this.cluster) return { command: 'PUBLISH', channel: this.base };
    return { command: 'SPUBLISH', channel: this.ofSlot(calculateSlot(this.keyPrefix + key)) };
  }

  ofSlot(slot: number): string {
    return `${this.base}{${tagOfSlot(slot)}}`;
  }

  /** Standalone: the one channel. */
  get single(): string {
    return this.base;
  }
}

/**
 * Publishes the invalidation of `key` again, outside the script, on its
 * slot's channel at the node the client routes that slot to. During a slot
 * migration a write to a key already moved runs on the importing node (ASK),
 * whose SPUBLISH reaches nobody: every feed is subscribed for that slot at
 * the migrating node, which still serves the slot and so takes this publish.
 * Sent as a raw command: ioredis would put its `keyPrefix` in front of a shard
 * channel (it counts as a key), and the feeds subscribe the channel unprefixed.
 */
export async function republish(cluster: Cluster, channels: InvalidationChannels, key: string): Promise<void> {
  const { Command } = await import('ioredis');
  const command = new Command('spublish', [channels.forKey(key).channel, key]);
  await cluster.sendCommand(command);
  await command.promise;
}

/** A session id from a published key (`<keyPrefix><prefix>s:<id>`; ids are base64url, without `:`). */
export function idOfKey(key: string): string | null {
  const at = key.lastIndexOf(':');
  const id = key.slice(at + 1);
  return at < 0 || id.length === 0 ? null : id;
}

function deliver(sinks: InvalidationSinks, message: string): void {
  const id = idOfKey(message);
  if (id === null) return;
  sinks.invalidate([id]);
}

/** Options of one subscribed connection. */
interface ConnectionHooks {
  /** (Re)subscribes; resolves once Redis acknowledged every channel, calling `progress` as parts of them are. */
  readonly subscribe: (connection: Redis, progress: () => void) => Promise<unknown>;
  readonly onLost: () => void;
  readonly onLive: () => void;
  /** A heartbeat's PONG came back: every message published before it has been delivered. */
  readonly onConfirmed: () => void;
  readonly onMessage: (message: string) => void;
  /** Standalone: ioredis reconnects, `ready` re-subscribes. Cluster: a lost connection is stopped and replaced along the new slot map. */
  readonly reconnect: boolean;
  /** A heartbeat unanswered this long is a loss (Cluster); absent: only late, never lost (standalone). */
  readonly silentLossMs?: number;
}

/**
 * One subscribed connection and its heartbeat. `lost` is reported the moment
 * the connection closes; `restored` once the subscription is acknowledged
 * again (ioredis' own re-subscription is off: only an acknowledged one counts).
 */
class SubscribedConnection {
  /** Send time of the last heartbeat whose PONG came back: every message published before it has been delivered. */
  confirmedAt = performance.now();
  private pingSentAt: number | null = null;
  private readonly timer: NodeJS.Timeout;
  private live = false;
  private stopped = false;
  /** `ready` events before `start` finished belong to the first connection, which `start` subscribes. */
  private started = false;

  constructor(
    private readonly connection: Redis,
    private readonly hooks: ConnectionHooks,
  ) {
    connection.on('error', () => undefined);
    connection.on('message', (_channel: string, message: string) => hooks.onMessage(message));
    connection.on('smessage', (_channel: string, message: string) => hooks.onMessage(message));
    // Redis un-subscribes shard channels whose slot moved to another node (an unsolicited `sunsubscribe`
    // push): the topology changed. ioredis 6 reports that push as 'moved', not as 'sunsubscribe'.
    connection.on('sunsubscribe', () => this.lose());
    connection.on('moved', () => this.lose());
    connection.on('close', () => this.lose());
    // ioredis reports 'close' from the socket's close callback, a loop phase after the EOF was read;
    // the socket's own 'end' comes in the poll that read it, before any cache hit of that turn is served.
    connection.on('connect', () => {
      (connection as unknown as { stream?: NodeJS.EventEmitter }).stream?.once('end', () => this.lose());
    });
    if (hooks.reconnect) connection.on('ready', () => void this.resubscribe());
    this.timer = setInterval(() => this.beat(), FEED_HEARTBEAT_MS);
    this.timer.unref();
  }

  get subscribed(): boolean {
    return this.live;
  }

  /** Connects and subscribes, each step acknowledged within START_TIMEOUT_MS of the last; a failure stops the connection. */
  async start(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    let fail: (error: Error) => void = () => undefined;
    const timeout = new Promise<never>((_, reject) => (fail = reject));
    const progress = (): void => {
      clearTimeout(timer);
      timer = setTimeout(() => fail(new Error('redis store: the invalidation subscription was not acknowledged in time')), START_TIMEOUT_MS);
      timer.unref();
    };
    progress();
    try {
      await Promise.race([this.subscribeNow(progress), timeout]);
    } catch (error) {
      this.stop();
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  current(now: number): boolean {
    return this.live && now - this.confirmedAt <= FEED_MAX_LAG_MS;
  }

  stop(): void {
    this.stopped = true;
    this.live = false;
    clearInterval(this.timer);
    this.connection.disconnect();
  }

  private async subscribeNow(progress: () => void): Promise<void> {
    await this.connection.connect();
    progress();
    await this.hooks.subscribe(this.connection, progress);
    if (this.stopped) throw new Error('redis store: the invalidation connection was stopped');
    this.confirmedAt = performance.now();
    this.live = true;
    this.started = true;
  }

  private lose(): void {
    if (this.stopped) return;
    const wasLive = this.live;
    this.live = false;
    this.pingSentAt = null;
    if (!this.hooks.reconnect) this.stop();
    // Before `start` finished, `start` itself fails: nothing was live to lose.
    if (wasLive || this.hooks.reconnect) this.hooks.onLost();
  }

  private async resubscribe(): Promise<void> {
    if (this.stopped || this.live || !this.started) return;
    try {
      await this.hooks.subscribe(this.connection, () => undefined);
      this.confirmedAt = performance.now();
      this.live = true;
      this.hooks.onLive();
    } catch {
      // The connection will close and reconnect; `ready` comes again.
    }
  }

  private beat(): void {
    if (!this.live) return;
    if (this.pingSentAt !== null) {
      const silentFor = performance.now() - this.pingSentAt;
      if (this.hooks.silentLossMs !== undefined && silentFor > this.hooks.silentLossMs) this.lose();
      return;
    }
    const sentAt = performance.now();
    this.pingSentAt = sentAt;
    this.connection.ping().then(
      () => {
        if (this.pingSentAt === sentAt) {
          this.pingSentAt = null;
          this.confirmedAt = sentAt;
          this.hooks.onConfirmed();
        }
      },
      () => {
        // A ping refused or timed out (commandTimeout) on a Cluster connection is its loss: see SILENT_LOSS_MS.
        if (this.pingSentAt !== sentAt) return;
        if (this.hooks.silentLossMs !== undefined) this.lose();
        else this.pingSentAt = null;
      },
    );
  }
}

/** Resolves on the next turn of the event loop, after the I/O that is ready. */
const yieldToLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** The masters of a slot map and the slots each serves, in slot order. */
function slotsByMaster(slots: readonly (readonly string[] | undefined)[]): Map<string, number[]> {
  const out = new Map<string, number[]>();
  slots.forEach((nodes, slot) => {
    const master = nodes?.[0];
    if (master === undefined) return;
    let list = out.get(master);
    if (!list) out.set(master, (list = []));
    list.push(slot);
  });
  return out;
}

function sameSlots(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((slot, i) => slot === b[i]);
}

/** The Cluster's slot map asked again (CLUSTER SLOTS), not the one ioredis last heard: it refreshes only when a command fails. */
function refreshSlotMap(cluster: Cluster): Promise<void> {
  return new Promise((resolve, reject) => cluster.refreshSlotsCache((error) => (error ? reject(error) : resolve())));
}

/** One master's subscription: the slots it was subscribed for and its connection. */
interface MasterSubscription {
  readonly slots: readonly number[];
  readonly connection: SubscribedConnection;
}

/**
 * The subscribed connections of one store, shared by every cache subscribed
 * to it. Standalone and Sentinel: one connection duplicated from the client
 * (it follows a Sentinel failover as the client does). Cluster: one per
 * master, each subscribed to the channels of the slots that master serves
 * (SSUBSCRIBE, Redis 7). A lost Cluster connection (closed, un-subscribed
 * because a slot moved, or silent) flushes the caches; only that master's
 * subscription is rebuilt, along the Cluster's new slot map, while the other
 * masters' connections stay subscribed; the caches serve again once every
 * master is subscribed and current.
 */
export class InvalidationFeed {
  private readonly sinks = new InvalidationSinks();
  private standalone: SubscribedConnection | null = null;
  private masters = new Map<string, MasterSubscription>();
  /** Cluster: a reconciliation with the slot map is running or scheduled; the feed is not whole meanwhile. */
  private reconciling = false;
  /** A master's connection was lost while a reconciliation ran: it runs again. */
  private dirty = false;
  private retry: NodeJS.Timeout | undefined;
  private closed = false;
  /** The caches were told of a loss and not yet of a recovery. */
  private lostSinceRestored = false;

  constructor(
    private readonly client: Redis | Cluster,
    private readonly channels: InvalidationChannels,
  ) {}

  /** Adds a sink; resolves once every connection is subscribed. */
  subscribe(sink: InvalidationSink): Promise<() => Promise<void>> {
    return this.sinks.subscribe(sink, () => this.start());
  }

  /** Whether every connection is subscribed and heard its heartbeat recently. */
  current(): boolean {
    const now = performance.now();
    if (!this.channels.cluster) return this.standalone?.current(now) === true;
    if (this.masters.size === 0 || this.reconciling || this.retry !== undefined) return false;
    for (const { connection } of this.masters.values()) if (!connection.current(now)) return false;
    return true;
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.retry);
    this.sinks.clear();
    this.standalone?.stop();
    this.standalone = null;
    for (const { connection } of this.masters.values()) connection.stop();
    this.masters.clear();
  }

  private async start(): Promise<void> {
    if (this.channels.cluster) {
      await this.reconcileUntilStable(this.client as Cluster);
    } else {
      const connection = this.standaloneConnection(this.client as Redis);
      this.standalone = connection;
      try {
        await connection.start();
      } catch (error) {
        this.standalone = null;
        throw error;
      }
    }
    if (this.closed) this.close();
  }

  private lost(): void {
    this.lostSinceRestored = true;
    this.sinks.lost();
  }

  private liveAgain(): void {
    if (!this.current()) return;
    this.lostSinceRestored = false;
    this.sinks.restored();
  }

  /**
   * A heartbeat confirmed a connection: if the caches are still lost, try
   * again. A reconciliation that ends while some master's heartbeat is late
   * (the event loop stalled meanwhile) cannot restore them, and nothing else
   * would until the next topology change (review of 2026-12-03).
   */
  private confirmed(): void {
    if (this.lostSinceRestored) this.liveAgain();
  }

  private standaloneConnection(client: Redis): SubscribedConnection {
    // lazyConnect plus an explicit connect: with the recommended enableOfflineQueue: false a
    // SUBSCRIBE sent before the connection is ready would be refused.
    const connection = client.duplicate({ lazyConnect: true, autoResubscribe: false });
    return new SubscribedConnection(connection, {
      subscribe: (c) => c.subscribe(this.channels.single),
      onLost: () => this.lost(),
      onLive: () => this.liveAgain(),
      onConfirmed: () => this.confirmed(),
      onMessage: (message) => deliver(this.sinks, message),
      reconnect: true,
    });
  }

  private async reconcileUntilStable(cluster: Cluster): Promise<void> {
    this.reconciling = true;
    try {
      do {
        this.dirty = false;
        await this.reconcile(cluster);
      } while (this.dirty && !this.closed);
    } finally {
      this.reconciling = false;
    }
  }

  /**
   * Brings the subscriptions in line with the Cluster's current slot map:
   * a master whose connection is subscribed for exactly the slots it serves
   * keeps it (it has delivered every message of those slots throughout);
   * every other master gets a new connection, subscribed for its slots. An
   * SSUBSCRIBE sent to a node that no longer serves the slot is refused
   * (MOVED), so a stale map fails here and is asked again.
   */
  private async reconcile(cluster: Cluster): Promise<void> {
    await refreshSlotMap(cluster);
    const RedisClass = (await import('ioredis')).Redis;
    if (this.closed) throw new Error('redis store: closed');
    const wanted = slotsByMaster(cluster.slots);
    if (wanted.size === 0) throw new Error('redis store: the cluster client has no slot map yet (connect it first)');
    const next = new Map<string, MasterSubscription>();
    const starting: SubscribedConnection[] = [];
    for (const [address, slots] of wanted) {
      const held = this.masters.get(address);
      if (held && held.connection.subscribed && sameSlots(held.slots, slots)) {
        next.set(address, held);
        continue;
      }
      held?.connection.stop();
      const connection = this.clusterConnection(cluster, RedisClass, address, slots);
      next.set(address, { slots, connection });
      starting.push(connection);
    }
    for (const [address, { connection }] of this.masters) if (!next.has(address)) connection.stop();
    this.masters = next;
    await Promise.all(starting.map((connection) => connection.start()));
    if (this.closed) this.close();
  }

  private clusterConnection(cluster: Cluster, RedisClass: typeof Redis, address: string, slots: readonly number[]): SubscribedConnection {
    const split = address.lastIndexOf(':');
    const redisOptions = cluster.options.redisOptions ?? {};
    // With the cluster's connection options (TLS, auth, timeouts); a lost one is replaced, not reconnected.
    // Without its keyPrefix: ioredis counts a shard channel as a key and would prefix it, while the
    // scripts publish on the unprefixed name (a subscription nobody publishes to: stale reads).
    const connection = new RedisClass({
      ...redisOptions,
      keyPrefix: '',
      host: address.slice(0, split),
      port: Number(address.slice(split + 1)),
      lazyConnect: true,
      autoResubscribe: false,
      enableOfflineQueue: true,
      retryStrategy: () => null,
    });
    const channels = slots.map((slot) => this.channels.ofSlot(slot));
    return new SubscribedConnection(connection, {
      subscribe: async (c, progress) => {
        // One SSUBSCRIBE per channel (Redis refuses channels of different slots in one), in batches, yielding between them.
        for (let i = 0; i < channels.length; i += CHUNK) {
          await Promise.all(channels.slice(i, i + CHUNK).map((channel) => c.ssubscribe(channel)));
          progress();
          await yieldToLoop();
        }
      },
      onLost: () => this.topologyChanged(),
      onLive: () => this.liveAgain(),
      onConfirmed: () => this.confirmed(),
      onMessage: (message) => deliver(this.sinks, message),
      reconnect: false,
      silentLossMs: SILENT_LOSS_MS,
    });
  }

  /** A master's connection was lost: flush, then re-subscribe what is not subscribed along the new slot map. */
  private topologyChanged(): void {
    this.lost();
    if (this.closed || this.retry !== undefined) return;
    if (this.reconciling) {
      this.dirty = true;
      return;
    }
    const attempt = (): void => {
      this.retry = undefined;
      if (this.closed) return;
      this.reconcileUntilStable(this.client as Cluster).then(
        () => this.liveAgain(),
        () => {
          this.retry = setTimeout(attempt, RETRY_MS);
          this.retry.unref();
        },
      );
    };
    attempt();
  }
}
