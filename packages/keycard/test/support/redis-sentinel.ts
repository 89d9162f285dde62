import { Redis } from 'ioredis';
import { RedisServer, freePort } from './redis-server.js';

export interface SentinelGroupOptions {
  /** The monitored master's name. Default 'keycard'. */
  readonly name?: string;
  /** Sentinels to start. Default 3 (quorum 2): the smallest group that survives losing one. */
  readonly sentinels?: number;
  /**
   * How long a sentinel waits for an answer before it calls a server down.
   * Default 1000 ms, so that a failover takes a few seconds instead of the
   * production default's 30+.
   */
  readonly downAfterMs?: number;
  /** Sentinel's failover-timeout. Default 3000 ms. */
  readonly failoverTimeoutMs?: number;
  /** How long `start` and `waitFor…` may wait. Default 20 000 ms. */
  readonly readyTimeoutMs?: number;
}

export interface Address {
  readonly host: string;
  readonly port: number;
}

/**
 * A real Sentinel deployment for tests: a master, one replica and three
 * sentinels, each a redis-server on a free loopback port, stopped by PID in
 * `stop()`. The replica is started with `replicaof`, the sentinels monitor
 * the master with quorum ⌊n/2⌋+1 and find the replica and each other on their
 * own, as in production. After a failover `servers` still holds both data
 * processes; `master()` asks the sentinels which one is master now.
 */
export class RedisSentinelGroup {
  private constructor(
    readonly name: string,
    /** The first master and the first replica, in that order. */
    readonly servers: readonly [RedisServer, RedisServer],
    readonly sentinelServers: readonly RedisServer[],
    private readonly readyTimeoutMs: number,
  ) {}

  /** For ioredis' `sentinels` option. */
  get sentinels(): Address[] {
    return this.sentinelServers.map((server) => ({ host: server.host, port: server.port }));
  }

  static async start(options: SentinelGroupOptions = {}): Promise<RedisSentinelGroup> {
    const name = options.name ?? 'keycard';
    const count = options.sentinels ?? 3;
    const readyTimeoutMs = options.readyTimeoutMs ?? 20_000;
    const started: RedisServer[] = [];
    try {
      const master = await RedisServer.start();
      started.push(master);
      const replica = await RedisServer.start({ args: ['--replicaof', master.host, String(master.port)] });
      started.push(replica);
      const sentinels: RedisServer[] = [];
      for (let i = 0; i < count; i++) {
        const port = await freePort();
        const config = [
          `port ${port}`,
          `sentinel monitor ${name} ${master.host} ${master.port} ${Math.floor(count / 2) + 1}`,
          `sentinel down-after-milliseconds ${name} ${options.downAfterMs ?? 1000}`,
          `sentinel failover-timeout ${name} ${options.failoverTimeoutMs ?? 3000}`,
          `sentinel parallel-syncs ${name} 1`,
          '',
        ].join('\n');
        const sentinel = await RedisServer.start({ port, config, args: ['--sentinel'] });
        started.push(sentinel);
        sentinels.push(sentinel);
      }
      const group = new RedisSentinelGroup(name, [master, replica], sentinels, readyTimeoutMs);
      await group.waitUntilReady();
      return group;
    } catch (error) {
      await Promise.all(started.map((server) => server.stop()));
      throw error;
    }
  }

  /** The data process at `address`, or undefined. */
  serverAt(address: Address): RedisServer | undefined {
    return this.servers.find((server) => server.port === address.port);
  }

  /** The master as the first sentinel that answers sees it. */
  async master(): Promise<Address> {
    for (const sentinel of this.sentinelServers) {
      if (!sentinel.running) continue;
      try {
        const reply = await this.ask(sentinel, ['GET-MASTER-ADDR-BY-NAME', this.name]);
        if (Array.isArray(reply) && reply.length === 2) return { host: String(reply[0]), port: Number(reply[1]) };
      } catch {
        // try the next sentinel
      }
    }
    throw new Error('no sentinel answered GET-MASTER-ADDR-BY-NAME');
  }

  /** What one sentinel knows of the replicas: address and flags of each. */
  async replicas(sentinel: RedisServer = this.sentinelServers[0] as RedisServer): Promise<{ address: Address; flags: string[] }[]> {
    const reply = await this.ask(sentinel, ['REPLICAS', this.name]);
    if (!Array.isArray(reply)) return [];
    return reply.map((entry) => {
      const fields = fieldsOf(entry);
      return { address: { host: fields['ip'] ?? '', port: Number(fields['port']) }, flags: (fields['flags'] ?? '').split(',') };
    });
  }

  /**
   * Polls until every sentinel names `server` as master and knows the other
   * data process as a replica (whatever its state): the group is settled.
   * Resolves to the milliseconds it took.
   */
  async waitForMaster(server: RedisServer, timeoutMs = this.readyTimeoutMs): Promise<number> {
    const started = performance.now();
    let last = '';
    while (performance.now() - started < timeoutMs) {
      const views = await Promise.all(
        this.sentinelServers.filter((s) => s.running).map((sentinel) =>
          this.ask(sentinel, ['GET-MASTER-ADDR-BY-NAME', this.name]).then(
            (reply) => (Array.isArray(reply) ? Number(reply[1]) : 0),
            () => 0,
          ),
        ),
      );
      last = views.join(',');
      if (views.length > 0 && views.every((port) => port === server.port)) return performance.now() - started;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(`sentinels did not agree on master ${server.port} within ${timeoutMs} ms (they name ${last})`);
  }

  /** Stops every process by PID and removes their directories. */
  async stop(): Promise<void> {
    await Promise.all([...this.servers, ...this.sentinelServers].map((server) => server.stop()));
  }

  /** Sentinels know the master, the replica and each other; the replica is in sync. */
  private async waitUntilReady(): Promise<void> {
    const deadline = Date.now() + this.readyTimeoutMs;
    let last = '';
    while (Date.now() < deadline) {
      const states = await Promise.all(
        this.sentinelServers.map(async (sentinel) => {
          const master = fieldsOf(await this.ask(sentinel, ['MASTER', this.name]));
          const replicas = await this.replicas(sentinel);
          return {
            sentinels: Number(master['num-other-sentinels']),
            replicas: replicas.filter((r) => !r.flags.some((flag) => flag.endsWith('_down') || flag === 'disconnected')).length,
          };
        }),
      ).catch((error: Error) => error.message);
      last = JSON.stringify(states);
      const others = this.sentinelServers.length - 1;
      if (Array.isArray(states) && states.every((s) => s.sentinels === others && s.replicas === 1)) {
        const link = await this.servers[1].command('INFO', 'replication').then(String, () => '');
        if (link.includes('master_link_status:up')) return;
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`sentinel group not ready within ${this.readyTimeoutMs} ms: ${last}`);
  }

  /** One SENTINEL command on a short-lived connection. */
  private async ask(sentinel: RedisServer, args: readonly string[]): Promise<unknown> {
    const client = new Redis({ host: sentinel.host, port: sentinel.port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, commandTimeout: 2000 });
    client.on('error', () => undefined);
    try {
      await client.connect();
      return await client.call('SENTINEL', ...args);
    } finally {
      client.disconnect();
    }
  }
}

/** A flat [field, value, …] reply as an object. */
function fieldsOf(reply: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (!Array.isArray(reply)) return out;
  for (let i = 0; i + 1 < reply.length; i += 2) out[String(reply[i])] = String(reply[i + 1]);
  return out;
}
