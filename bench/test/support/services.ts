import { spawnSync } from 'node:child_process';
import { createConnection } from 'node:net';

/**
 * Why a reliability test cannot run here, or false when it can. With
 * REQUIRE_SERVICES=1 (CI) a missing piece fails the run instead of skipping.
 */
function skipOrFail(reason: string | undefined): string | false {
  if (reason === undefined) return false;
  if (process.env.REQUIRE_SERVICES === '1') throw new Error(`REQUIRE_SERVICES=1 but ${reason}`);
  process.stderr.write(`SKIPPED (${reason}); set REQUIRE_SERVICES=1 to make this an error\n`);
  return reason;
}

/** The experiments start private redis-servers of their own. */
export function redisServerSkip(): string | false {
  const probe = spawnSync('redis-server', ['--version'], { stdio: 'ignore' });
  return skipOrFail(probe.status === 0 ? undefined : 'redis-server is not installed');
}

/** The demo deployments keep their users in PostgreSQL (BENCH_DATABASE_URL, default 127.0.0.1:5432). */
export async function postgresSkip(): Promise<string | false> {
  const url = new URL(process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test');
  const up = await new Promise<boolean>((resolve) => {
    const socket = createConnection({ host: url.hostname, port: Number(url.port || 5432) });
    socket.setTimeout(1000);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(false));
  });
  return skipOrFail(up ? undefined : `PostgreSQL is not reachable at ${url.host}`);
}
