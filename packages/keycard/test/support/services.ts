import { createConnection } from 'node:net';

/**
 * Whether a service a suite needs is reachable. Without it the suite is
 * skipped with a reason that names the service; with REQUIRE_SERVICES=1 (CI)
 * a missing service fails the run instead of skipping silently.
 */
export async function serviceSkipReason(name: string, host: string, port: number): Promise<string | false> {
  const up = await new Promise<boolean>((resolve) => {
    const socket = createConnection({ host, port });
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
  if (up) return false;
  const reason = `${name} is not reachable at ${host}:${port}`;
  if (process.env['REQUIRE_SERVICES'] === '1') {
    throw new Error(`REQUIRE_SERVICES=1 but ${reason}`);
  }
  process.stderr.write(`SKIPPED (${reason}); set REQUIRE_SERVICES=1 to make this an error\n`);
  return reason;
}

export const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
export const DATABASE_URL = process.env['DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';

export function redisSkip(): Promise<string | false> {
  const url = new URL(REDIS_URL);
  return serviceSkipReason('Redis', url.hostname, Number(url.port || 6379));
}

export function postgresSkip(): Promise<string | false> {
  const url = new URL(DATABASE_URL);
  return serviceSkipReason('PostgreSQL', url.hostname, Number(url.port || 5432));
}
