import { createConnection } from 'node:net';

export const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
export const DATABASE_URL = process.env['DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';

/**
 * False when the service answers; otherwise the reason to skip, printed as
 * a SKIPPED line. With REQUIRE_SERVICES=1 (CI) a missing service throws, so
 * the suite fails instead of skipping.
 */
export async function serviceSkipReason(name: string, url: string, defaultPort: number): Promise<string | false> {
  const { hostname, port } = new URL(url);
  const target = { host: hostname, port: Number(port || defaultPort) };
  const up = await new Promise<boolean>((resolve) => {
    const socket = createConnection(target);
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
  const reason = `${name} is not reachable at ${target.host}:${target.port}`;
  if (process.env['REQUIRE_SERVICES'] === '1') throw new Error(`REQUIRE_SERVICES=1 but ${reason}`);
  process.stderr.write(`SKIPPED (${reason}); set REQUIRE_SERVICES=1 to make this an error\n`);
  return reason;
}
