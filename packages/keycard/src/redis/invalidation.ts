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
/** SSUBSCRIBE commands in flight at once while a subscription is (re)built. */
const CHUNK = 1024;

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
    private readonly subscribe: (connection: Redis) => Promise<unknown>,
    private readonly onLost: () => void,
    private readonly onLive: () => void,
    onMessage: (message: string) => void,
  ) {
    connection.on('error', () => undefined);
    connection.on('message', (_channel: string, message: string) => onMessage(message));
    connection.on('smessage', (_channel: string, message: string) => onMessage(message));
    // Redis un-subscribes shard channels whose slot moved to another node: the topology changed.
    connection.on('sunsubscribe', () => this.lose());
    connection.on('close', () => this.lose());
    // ioredis reports 'close' from the socket's close callback, a loop phase after the EOF was read;
    // the socket's own 'end' comes in the poll that read it, before any cache hit of that turn is served.
    connection.on('connect', () => {
      (connection as unknown as { stream?: NodeJS.EventEmitter }).stream?.once('end', () => this.lose());
    });
    connection.on('ready', () => void this.resubscribe());
    this.timer = setInterval(() => this.beat(), FEED_HEARTBEAT_MS);
    this.timer.unref();
  }

  async start(): Promise<void> {
    await this.connection.connect();
    await this.subscribe(this.connection);
    this.confirmedAt = performance.now();
    this.live = true;
    this.started = true;
  }

  current(now: number): boolean {
    return this.live && now - this.confirmedAt <= FEED_MAX_LAG_MS;
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    this.connection.disconnect();
  }

  private lose(): void {
    if (this.stopped) return;
    this.live = false;
    this.pingSentAt = null;
    this.onLost();
  }

  private async resubscribe(): Promise<void> {
    if (this.stopped || this.live || !this.started) return;
    try {
      await this.subscribe(this.connection);
      this.confirmedAt = performance.now();
      this.live = true;
      this.onLive();
    } catch {
      // The connection will close and reconnect; `ready` comes again.
    }
  }

  private beat(): void {
    if (!this.live || this.pingSentAt !== null) return;
    const sentAt = performance.now();
    this.pingSentAt = sentAt;
    this.connection.ping().then(
      () => {
        if (this.pingSentAt === sentAt) {
          this.pingSentAt = null;
          this.confirmedAt = sentAt;
        }
      },
      () => {
        if (this.pingSentAt === sentAt) this.pingSentAt = null;
      },
    );
  }
}

/**
 * The subscribed connections of one store, shared by every cache subscribed
 * to it. Standalone and Sentinel: one connection duplicated from the client
 * (it follows a Sentinel failover as the client does). Cluster: one per
 * master, each subscribed to the channels of the slots that master serves
 * (SSUBSCRIBE, Redis 7); any topology change is a loss, and the
 * subscriptions are rebuilt from the cluster's new slot map.
 */
export class InvalidationFeed {
  private readonly sinks = new InvalidationSinks();
  private connections: SubscribedConnection[] = [];
  private rebuilding = false;
  private closed = false;

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
    if (this.connections.length === 0 || this.rebuilding) return false;
    const now = performance.now();
    for (const connection of this.connections) if (!connection.current(now)) return false;
    return true;
  }

  close(): void {
    this.closed = true;
    this.sinks.clear();
    for (const connection of this.connections) connection.stop();
    this.connections = [];
  }

  private async start(): Promise<void> {
    const connections = this.channels.cluster
      ? this.clusterConnections(this.client as Cluster, (await import('ioredis')).Redis)
      : [this.standaloneConnection(this.client as Redis)];
    this.connections = connections;
    try {
      await Promise.all(connections.map((connection) => connection.start()));
    } catch (error) {
      for (const connection of connections) connection.stop();
      this.connections = [];
      throw error;
    }
    if (this.closed) this.close();
  }

  private lost(): void {
    this.sinks.lost();
  }

  private liveAgain(): void {
    if (!this.current()) return;
    this.sinks.restored();
  }

  private standaloneConnection(client: Redis): SubscribedConnection {
    // lazyConnect plus an explicit connect: with the recommended enableOfflineQueue: false a
    // SUBSCRIBE sent before the connection is ready would be refused.
    const connection = client.duplicate({ lazyConnect: true, autoResubscribe: false });
    return new SubscribedConnection(
      connection,
      (c) => c.subscribe(this.channels.single),
      () => this.lost(),
      () => this.liveAgain(),
      (message) => deliver(this.sinks, message),
    );
  }

  private clusterConnections(cluster: Cluster, RedisClass: typeof Redis): SubscribedConnection[] {
    const slotsByMaster = new Map<string, number[]>();
    cluster.slots.forEach((nodes, slot) => {
      const master = nodes?.[0];
      if (master === undefined) return;
      let slots = slotsByMaster.get(master);
      if (!slots) slotsByMaster.set(master, (slots = []));
      slots.push(slot);
    });
    if (slotsByMaster.size === 0) throw new Error('redis store: the cluster client has no slot map yet (connect it first)');
    const redisOptions = cluster.options.redisOptions ?? {};
    const out: SubscribedConnection[] = [];
    for (const [address, slots] of slotsByMaster) {
      const split = address.lastIndexOf(':');
      const host = address.slice(0, split);
      const port = Number(address.slice(split + 1));
      // With the cluster's connection options (TLS, auth, timeouts).
      const connection = new RedisClass({ ...redisOptions, host, port, lazyConnect: true, autoResubscribe: false, enableOfflineQueue: true });
      const channels = slots.map((slot) => this.channels.ofSlot(slot));
      out.push(
        new SubscribedConnection(
          connection,
          async (c) => {
            // One SSUBSCRIBE per channel (Redis refuses channels of different slots in one), sent in batches.
            for (let i = 0; i < channels.length; i += CHUNK) await Promise.all(channels.slice(i, i + CHUNK).map((channel) => c.ssubscribe(channel)));
          },
          () => this.topologyChanged(),
          () => this.liveAgain(),
          (message) => deliver(this.sinks, message),
        ),
      );
    }
    return out;
  }

  /** A master went away or a slot moved: flush, then subscribe again along the new slot map. */
  private topologyChanged(): void {
    this.lost();
    if (this.rebuilding || this.closed) return;
    this.rebuilding = true;
    const retry = (): void => {
      if (this.closed) return;
      for (const connection of this.connections) connection.stop();
      this.connections = [];
      this.start().then(
        () => {
          this.rebuilding = false;
          this.liveAgain();
        },
        () => {
          const timer = setTimeout(retry, 500);
          timer.unref();
        },
      );
    };
    // Let the cluster client refresh its slot map first.
    const timer = setTimeout(retry, 200);
    timer.unref();
  }
}
