import calculateSlot from 'cluster-key-slot';
import type { Cluster, Redis } from 'ioredis';
import { InvalidOptionsError, StoreUnavailableError, WriteNotDurableError } from '../core/errors.js';

type RedisClient = Redis | Cluster;

/**
 * When a security write counts as done on Redis with replicas.
 *
 * Redis replication is asynchronous: a master acknowledges a `DEL` and may
 * die before any replica has it, and the replica promoted in its place still
 * holds the session. For the writes whose loss would sign someone back in —
 * sign-out, revocation, revoke-all, the rotation of a signed-in session, a
 * role refresh — the store sends `WAIT` and reports success only once a
 * replica has acknowledged; otherwise it rejects with `WriteNotDurableError`
 * (a `StoreUnavailableError`, so HTTP 503), never a silent success.
 *
 * Everything else stays asynchronous: creating a session and an update of
 * data keys (losing them in a failover signs nobody in; the client sees a
 * signed-out or slightly older session), a touch, and the rotation of an
 * anonymous session (a sign-in that replaces an anonymous session: an
 * anonymous id coming back grants nothing).
 */
export interface DurabilityOptions {
  /**
   * Replicas that must acknowledge a security write. `'auto'` (default): one
   * when the topology has any replica, none otherwise (standalone Redis
   * without replicas pays nothing). The topology is what the authority that
   * would promote a replica knows, not only the connected replicas: Sentinel's
   * `SENTINEL REPLICAS` (a replica whose link is down is still one it may
   * promote once it is back), Cluster's `CLUSTER NODES` (failed replicas
   * included), and for a plain master every replica `INFO replication` has
   * shown since the store started. `0` turns the waits off (replication
   * stays asynchronous for every write: a failover can undo a sign-out).
   */
  readonly replicas?: 'auto' | number;
  /**
   * Milliseconds a `WAIT` may block. Default: half the `storeTimeout` of the
   * SessionManager using the store (500 ms with its default), so that a
   * missing replica answers 503 within the bound every request has.
   */
  readonly timeout?: number;
  /** Milliseconds between reads of the topology (replica counts). Default 5000. */
  readonly refreshInterval?: number;
}

/** Replica counts per master (`host:port`), and the largest, for masters not listed. */
interface Topology {
  readonly byMaster: ReadonlyMap<string, number>;
  readonly most: number;
}

const DEFAULT_TIMEOUT_MS = 500;
const DEFAULT_REFRESH_MS = 5000;
const SENTINEL_TIMEOUT_MS = 1000;

/**
 * The durability rule of `RedisStore`, kept out of the store and its scripts:
 * the store sends its security writes through `writer()` and calls
 * `confirm(keys)` after them.
 *
 * `WAIT` waits for the writes made on its own connection, and blocks that
 * connection meanwhile; security writes therefore go over a connection of
 * their own (duplicated from the client, opened on first use), so that
 * reads never queue behind a `WAIT`.
 */
export class Durability {
  private readonly required: 'auto' | number;
  private readonly refreshMs: number;
  private timeoutMs: number;
  private readonly explicitTimeout: boolean;
  private connection: Promise<RedisClient> | null = null;
  private topology: Topology | null = null;
  private topologyAt = -Infinity;
  private refreshing: Promise<Topology> | null = null;
  /** Replicas `INFO replication` has shown, by address: a plain master forgets a replica whose link dropped. */
  private readonly seen = new Set<string>();
  private closed = false;

  constructor(
    private readonly client: RedisClient,
    options: DurabilityOptions = {},
  ) {
    const replicas = options.replicas ?? 'auto';
    if (replicas !== 'auto' && !(Number.isInteger(replicas) && replicas >= 0)) {
      throw new InvalidOptionsError(`keycard: RedisStore durability.replicas must be 'auto' or a whole number >= 0, got ${String(replicas)}`);
    }
    const timeout = options.timeout ?? DEFAULT_TIMEOUT_MS;
    if (!(Number.isInteger(timeout) && timeout >= 1)) {
      throw new InvalidOptionsError(`keycard: RedisStore durability.timeout must be a whole number of milliseconds >= 1, got ${String(timeout)}`);
    }
    const refresh = options.refreshInterval ?? DEFAULT_REFRESH_MS;
    if (!(Number.isFinite(refresh) && refresh >= 0)) {
      throw new InvalidOptionsError(`keycard: RedisStore durability.refreshInterval must be a number of milliseconds >= 0, got ${String(refresh)}`);
    }
    this.required = replicas;
    this.timeoutMs = timeout;
    this.explicitTimeout = options.timeout !== undefined;
    this.refreshMs = refresh;
  }

  /** Whether security writes wait for replicas at all. */
  get enabled(): boolean {
    return this.required !== 0;
  }

  /** The bound of one `WAIT`, in milliseconds. */
  get timeout(): number {
    return this.timeoutMs;
  }

  /** The manager's store timeout: the default bound is half of it (the smallest, when several managers share the store). */
  useStoreTimeout(storeTimeoutMs: number): void {
    if (this.explicitTimeout) return;
    const half = Math.max(1, Math.floor(storeTimeoutMs / 2));
    this.timeoutMs = this.timeoutMs === DEFAULT_TIMEOUT_MS ? half : Math.min(this.timeoutMs, half);
  }

  /** The connection security writes go through: a dedicated one when waits are on, else the client itself. */
  writer(): Promise<RedisClient> {
    if (!this.enabled) return Promise.resolve(this.client);
    if (this.closed) return Promise.reject(new StoreUnavailableError('redis store: used after close'));
    if (this.connection) return this.connection;
    const duplicate: RedisClient = isCluster(this.client)
      ? this.client.duplicate([], { lazyConnect: true })
      : this.client.duplicate({ lazyConnect: true });
    // Failures surface as the rejections of the writes themselves.
    duplicate.on('error', () => undefined);
    const connection = duplicate.connect().then(() => duplicate);
    this.connection = connection;
    connection.catch(() => {
      if (this.connection !== connection) return;
      this.connection = null;
      duplicate.disconnect();
    });
    return connection;
  }

  /**
   * Resolves once the writes made through `writer()` on the masters holding
   * `keys` are on the replicas required; rejects with WriteNotDurableError
   * when `WAIT` comes back short within the bound. One `WAIT` per master
   * involved, in parallel.
   */
  async confirm(keys: readonly string[]): Promise<void> {
    if (!this.enabled || keys.length === 0) return;
    const writer = await this.writer();
    const targets = isCluster(writer) ? mastersOf(writer, keys) : new Map([['', writer as Redis]]);
    let topology = this.required === 'auto' ? await this.currentTopology() : null;
    // A master the last read did not list is news (a replica just promoted): read again rather than guess.
    if (topology && isCluster(writer) && [...targets.keys()].some((address) => !topology?.byMaster.has(address))) {
      this.topologyAt = -Infinity;
      this.topology = null;
      topology = await this.currentTopology();
    }
    await Promise.all(
      [...targets].map(async ([address, node]) => {
        const required = this.requiredFor(address, topology);
        if (required === 0) return;
        const acknowledged = Number(await node.wait(required, this.timeoutMs));
        if (acknowledged < required) throw new WriteNotDurableError(required, acknowledged, this.timeoutMs);
      }),
    );
  }

  /** The replica counts as last read, re-read now (for tests and the CLI's `stats`). */
  async readTopology(): Promise<ReadonlyMap<string, number>> {
    this.topologyAt = -Infinity;
    return (await this.currentTopology()).byMaster;
  }

  close(): void {
    this.closed = true;
    const connection = this.connection;
    this.connection = null;
    void connection?.then((client) => client.disconnect(), () => undefined);
  }

  private requiredFor(address: string, topology: Topology | null): number {
    if (typeof this.required === 'number') return this.required;
    const replicas = (address === '' ? undefined : topology?.byMaster.get(address)) ?? topology?.most ?? 0;
    return replicas > 0 ? 1 : 0;
  }

  /**
   * The topology, re-read at most every `refreshInterval`. A stale one is
   * used while the next read runs; a read that fails keeps the last one. With
   * none yet, the write waits for the first read, and fails with it.
   */
  private async currentTopology(): Promise<Topology> {
    const now = performance.now();
    if (now - this.topologyAt >= this.refreshMs && !this.refreshing) {
      const refreshing = this.read().then((topology) => {
        this.topology = topology;
        this.topologyAt = performance.now();
        return topology;
      });
      this.refreshing = refreshing;
      void refreshing.then(
        () => (this.refreshing = null),
        () => (this.refreshing = null),
      );
    }
    if (this.topology) return this.topology;
    try {
      return await (this.refreshing as Promise<Topology>);
    } catch (error) {
      throw new StoreUnavailableError('redis store: could not read the replication topology', { cause: error });
    }
  }

  private async read(): Promise<Topology> {
    if (isCluster(this.client)) return clusterTopology(await clusterNodes(this.client));
    const sentinelCount = await this.askSentinels(this.client);
    const info = String(await this.client.info('replication'));
    for (const address of connectedReplicas(info)) this.seen.add(address);
    // Sentinel remembers every replica it has seen until SENTINEL RESET; a plain master only its connected ones.
    const count = Math.max(sentinelCount ?? 0, sentinelCount === null ? this.seen.size : connectedReplicas(info).length);
    return { byMaster: new Map(), most: count };
  }

  /** How many replicas the sentinels know for the client's master (any state), or null when it is not a Sentinel client. */
  private async askSentinels(client: Redis): Promise<number | null> {
    const { sentinels, name } = client.options;
    if (!sentinels || sentinels.length === 0 || !name) return null;
    const { Redis: RedisClass } = await import('ioredis');
    for (const address of sentinels) {
      const sentinel = new RedisClass({
        host: address.host ?? '127.0.0.1',
        port: address.port ?? 26379,
        ...(client.options.sentinelUsername ? { username: client.options.sentinelUsername } : {}),
        ...(client.options.sentinelPassword ? { password: client.options.sentinelPassword } : {}),
        ...(client.options.sentinelTLS ? { tls: client.options.sentinelTLS } : {}),
        lazyConnect: true,
        enableOfflineQueue: false,
        maxRetriesPerRequest: 0,
        connectTimeout: SENTINEL_TIMEOUT_MS,
        commandTimeout: SENTINEL_TIMEOUT_MS,
        retryStrategy: () => null,
      });
      sentinel.on('error', () => undefined);
      try {
        await sentinel.connect();
        const replicas = await sentinel.call('SENTINEL', 'REPLICAS', name);
        if (Array.isArray(replicas)) return replicas.length;
      } catch {
        // the next sentinel may answer
      } finally {
        sentinel.disconnect();
      }
    }
    return null;
  }
}

/**
 * CLUSTER NODES from the first node to answer, all asked at once: right after
 * a failover the client may still list the dead master, and a frozen node's
 * connection stays ready while it never answers — asking one node after the
 * other would spend the whole command timeout on it, and with it the write's
 * deadline. (At most once per `refreshInterval`.)
 */
async function clusterNodes(cluster: Cluster): Promise<string> {
  const ready = cluster.nodes('all').filter((node) => node.status === 'ready');
  if (ready.length === 0) throw new Error('no cluster node connected');
  try {
    return await Promise.any(ready.map(async (node) => String(await node.cluster('NODES'))));
  } catch (error) {
    throw error instanceof AggregateError ? error.errors[0] : error;
  }
}

/** The master connections holding `keys`, by master address. */
export function mastersOf(cluster: Cluster, keys: readonly string[]): Map<string, Redis> {
  const prefix = cluster.options.keyPrefix ?? cluster.options.redisOptions?.keyPrefix ?? '';
  const nodes = new Map(cluster.nodes('master').map((node) => [`${node.options.host}:${node.options.port}`, node]));
  const out = new Map<string, Redis>();
  for (const key of keys) {
    const address = cluster.slots[calculateSlot(prefix + key)]?.[0];
    const node = address === undefined ? undefined : nodes.get(address);
    if (address === undefined || !node) {
      throw new StoreUnavailableError('redis store: no connection to the master of a written key (cluster topology changing)');
    }
    out.set(address, node);
  }
  return out;
}

/**
 * Replicas per master from CLUSTER NODES, whatever their state: a replica
 * flagged `fail` or with its link down is still one the cluster may promote.
 * Line format: `<id> <ip:port@cport[,hostname]> <flags> <master-id|-> …`.
 */
export function clusterTopology(nodes: string): Topology {
  const addressOf = new Map<string, string>();
  const replicasOf = new Map<string, number>();
  const lines = nodes.split('\n').map((line) => line.trim().split(' ')).filter((fields) => fields.length >= 4);
  for (const [id, address, flags, master] of lines as string[][]) {
    const host = (address as string).split('@')[0] as string;
    const flagList = (flags as string).split(',');
    if (flagList.includes('master')) addressOf.set(id as string, host);
    if ((flagList.includes('slave') || flagList.includes('replica')) && master !== '-') {
      replicasOf.set(master as string, (replicasOf.get(master as string) ?? 0) + 1);
    }
  }
  const byMaster = new Map<string, number>();
  for (const [id, host] of addressOf) byMaster.set(host, replicasOf.get(id) ?? 0);
  return { byMaster, most: Math.max(0, ...byMaster.values()) };
}

/** `ip:port` of each replica line (`slave0:ip=…,port=…,state=…`) of INFO replication. */
export function connectedReplicas(info: string): string[] {
  const out: string[] = [];
  for (const line of info.split(/\r?\n/)) {
    const match = /^slave\d+:(.*)$/.exec(line);
    if (!match) continue;
    const fields = new Map((match[1] as string).split(',').map((pair) => pair.split('=') as [string, string]));
    if (fields.has('ip') && fields.has('port')) out.push(`${fields.get('ip')}:${fields.get('port')}`);
  }
  return out;
}

function isCluster(client: RedisClient): client is Cluster {
  return 'isCluster' in client && client.isCluster === true;
}
