import { spawnSync } from 'node:child_process';
import pg from 'pg';

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
  const url = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  // A real connection, not just an open port: the experiments need to create schemas there.
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2_000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return false;
  } catch (error) {
    return skipOrFail(`PostgreSQL at ${new URL(url).host} cannot be used (${(error as Error).message})`);
  } finally {
    await client.end().catch(() => {});
  }
}
