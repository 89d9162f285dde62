import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { RedisServer, freePort, redisCommand } from './redis-server.js';

const run = promisify(execFile);

export interface ClusterNodeAddress {
  readonly host: string;
  readonly port: number;
}

/** A master and one of its replicas. */
export interface ClusterShard {
  readonly master: RedisServer;
  readonly replica: RedisServer;
}

export interface RedisClusterOptions {
  /** Number of masters. Default 3, the fewest `redis-cli --cluster create` accepts. */
  readonly masters?: number;
  /** Replicas per master. Default 0. */
  readonly replicas?: number;
  /** cluster-node-timeout: how long a node may be unreachable before a failover. Default 5000 ms. */
  readonly nodeTimeoutMs?: number;
  /** How long to wait for `cluster_state:ok` on every node. Default 20 000 ms. */
  readonly readyTimeoutMs?: number;
}

/**
 * A real Redis Cluster of local masters on free loopback ports, for tests.
 * Start with `RedisCluster.start()`, hand `nodes` to `new Cluster(nodes)`,
 * and `stop()` in teardown (kills every node by PID and removes their
 * directories). Use `redisServerSkip()` first to skip when redis-server is
 * not installed.
 */
export class RedisCluster {
  private constructor(readonly servers: readonly RedisServer[]) {}

  get nodes(): ClusterNodeAddress[] {
    return this.servers.map((server) => ({ host: server.host, port: server.port }));
  }

  static async start(options: RedisClusterOptions = {}): Promise<RedisCluster> {
    const masters = options.masters ?? 3;
    const replicas = options.replicas ?? 0;
    const readyTimeoutMs = options.readyTimeoutMs ?? 20_000;
    const servers: RedisServer[] = [];
    try {
      for (let i = 0; i < masters * (1 + replicas); i++) {
        // The port is chosen first because the cluster config file is named after it.
        const port = await freePort();
        servers.push(
          await RedisServer.start({
            port,
            args: [
              '--cluster-enabled', 'yes',
              '--cluster-config-file', `nodes-${port}.conf`,
              '--cluster-node-timeout', String(options.nodeTimeoutMs ?? 5000),
            ],
          }),
        );
      }
      const cluster = new RedisCluster(servers);
      await run(
        'redis-cli',
        ['--cluster', 'create', ...servers.map((s) => `${s.host}:${s.port}`), '--cluster-replicas', String(replicas), '--cluster-yes'],
        { timeout: readyTimeoutMs },
      );
      await cluster.waitUntilOk(readyTimeoutMs, masters * replicas);
      return cluster;
    } catch (error) {
      await Promise.all(servers.map((server) => server.stop()));
      throw error;
    }
  }

  /** Stops every node (by PID) and removes their directories. */
  async stop(): Promise<void> {
    await Promise.all(this.servers.map((server) => server.stop()));
  }

  /**
   * The masters that have a replica, with it, as CLUSTER NODES says now
   * (asked of `via`, default the first running node; a master failed over has none left).
   */
  async shards(via?: RedisServer): Promise<ClusterShard[]> {
    const live = via ?? (this.servers.find((server) => server.running) as RedisServer);
    const lines = String(await redisCommand(live.port, ['CLUSTER', 'NODES'])).trim().split('\n').map((line) => line.split(' '));
    const portOf = (address: string): number => Number(address.split('@')[0]?.split(':')[1]);
    const out: ClusterShard[] = [];
    for (const [id, address, flags] of lines as string[][]) {
      if (!flags?.includes('master') || flags.includes('fail')) continue;
      const replicaLine = lines.find((fields) => fields[3] === id && !fields[2]?.includes('fail'));
      if (!replicaLine) continue;
      out.push({ master: this.serverAt(portOf(address as string)) as RedisServer, replica: this.serverAt(portOf(replicaLine[1] as string)) as RedisServer });
    }
    return out;
  }

  /** The data process listening on `port`, or undefined. */
  serverAt(port: number): RedisServer | undefined {
    return this.servers.find((server) => server.port === port);
  }

  /**
   * Polls CLUSTER INFO on every running node until each reports
   * `cluster_state:ok` with all 16384 slots assigned (and, when `replicas` is
   * given, that many replicas have their master link up). There is no event
   * for this; the deadline bounds the wait. Resolves to the milliseconds it took.
   */
  async waitUntilOk(timeoutMs: number, replicas = 0): Promise<number> {
    const started = performance.now();
    const deadline = Date.now() + timeoutMs;
    let last = '';
    while (Date.now() < deadline) {
      const live = this.servers.filter((server) => server.running);
      const infos = await Promise.all(
        live.map((server) => redisCommand(server.port, ['CLUSTER', 'INFO']).then(String, (e: Error) => e.message)),
      );
      const links = await Promise.all(
        live.map((server) => redisCommand(server.port, ['INFO', 'replication']).then(String, (e: Error) => e.message)),
      );
      const synced = links.filter((info) => info.includes('master_link_status:up')).length;
      if (
        synced >= replicas &&
        infos.every((info) => info.includes('cluster_state:ok') && info.includes('cluster_slots_assigned:16384'))
      ) {
        return performance.now() - started;
      }
      last = infos.join('\n---\n');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(`cluster not ok within ${timeoutMs} ms:\n${last}`);
  }
}
