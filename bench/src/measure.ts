import type { CommandCount } from './harness/monitor-line.js';
import { LoadGenerator } from './harness/load.js';
import { countRedisCommands } from './harness/redis-commands.js';
import { ServerProcess } from './harness/server-process.js';
import { checkAuthenticatedRead, readPath, signInMany } from './harness/sign-in.js';
import type { BenchOptions } from './options.js';
import type { Sample } from './report/results.js';
import type { ServerConfig } from './servers/protocol.js';
import type { Variant } from './variants.js';

/** What the runner provides to every variant server. */
export interface Backends {
  /** The private redis-server, when a selected variant needs Redis. */
  readonly redis: { readonly url: string; readonly port: number } | undefined;
  readonly databaseUrl: string;
}

/** Redis key prefix or SQL table of its own, so no two variants share sessions. */
export function namespaceOf(variant: Variant): string {
  return `kcbench_${variant.name.replaceAll('-', '_')}`;
}

function configFor(variant: Variant, backends: Backends): ServerConfig {
  return {
    platform: variant.platform,
    store: variant.store,
    ...(backends.redis === undefined ? {} : { redisUrl: backends.redis.url }),
    databaseUrl: backends.databaseUrl,
    namespace: namespaceOf(variant),
    ...variant.config,
  };
}

/**
 * Starts the variant's server, signs its sessions in (one, or `sessions`),
 * checks the authenticated read with each, runs `body`, stops the server.
 */
async function withSignedInServer<T>(
  variant: Variant,
  backends: Backends,
  body: (server: ServerProcess, cookies: readonly string[]) => Promise<T>,
): Promise<T> {
  const server = await ServerProcess.start(variant.name, variant.server, configFor(variant, backends));
  const app = variant.app ?? 'bench';
  try {
    const cookies = await signInMany(server.baseUrl, !variant.ceiling, app, variant.sessions ?? 1);
    for (const cookie of cookies) await checkAuthenticatedRead(server.baseUrl, cookie, !variant.ceiling, app);
    return await body(server, cookies);
  } catch (error) {
    const output = server.output();
    throw output === '' ? error : new Error(`${(error as Error).message}\nserver output:\n${output}`);
  } finally {
    await server.stop();
  }
}

/**
 * One measured run: a fresh server process, a warm-up, then the measured load
 * between two readings of the server's CPU time.
 */
export function measureVariant(variant: Variant, round: number, options: BenchOptions, backends: Backends): Promise<Sample> {
  return withSignedInServer(variant, backends, async (server, cookies) => {
    const load = await LoadGenerator.start();
    try {
      const request = { url: `${server.baseUrl}${readPath(variant.app ?? 'bench')}`, cookies, connections: options.connections };
      if (options.warmup > 0) await load.run({ ...request, duration: options.warmup });
      const cpuBefore = await server.cpuMicros();
      const result = await load.run({ ...request, duration: options.duration });
      const cpuAfter = await server.cpuMicros();
      // A run with failed requests would measure error handling, not authenticated reads.
      if (result.non2xx > 0 || result.errors > 0 || result.requests === 0) {
        throw new Error(
          `${result.non2xx} non-2xx responses, ${result.errors} errors (${result.timeouts} timeouts) in ${result.requests} requests`,
        );
      }
      return {
        variant: variant.name,
        round,
        requests: result.requests,
        seconds: result.seconds,
        rps: result.requests / result.seconds,
        p50Ms: result.p50Ms,
        p99Ms: result.p99Ms,
        cpuMicrosPerRequest: (cpuAfter - cpuBefore) / result.requests,
      };
    } finally {
      await load.stop();
    }
  });
}

/** Redis commands per authenticated read of a Redis-backed variant. */
export function countVariantCommands(variant: Variant, reads: number, backends: Backends): Promise<CommandCount> {
  const redis = backends.redis;
  if (redis === undefined) throw new Error('no private redis-server');
  return withSignedInServer(variant, backends, (server, cookies) =>
    countRedisCommands(redis.port, `${server.baseUrl}${readPath(variant.app ?? 'bench')}`, cookies, reads),
  );
}
