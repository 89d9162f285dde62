import { fileURLToPath } from 'node:url';
import { spawnListeningScript } from './app-process.js';
import type { Platform } from './http.js';

/** An application instance running in a child Node process (see ws-instance.ts). */
export interface Instance {
  readonly url: string;
  readonly pid: number;
  /** Closes its stdin (a clean shutdown) and waits for the exit; kills it after 5 s. */
  stop(): Promise<void>;
}

const SCRIPT = fileURLToPath(new URL('./ws-instance.js', import.meta.url));

/** Starts `ws-instance.js` on `platform`, sharing the Redis at `redisUrl` under `prefix`; resolves once it listens. */
export async function spawnInstance(platform: Platform, redisUrl: string, prefix: string): Promise<Instance> {
  const { url, pid, stop } = await spawnListeningScript(SCRIPT, [platform, redisUrl, prefix], `instance on ${platform}`, 15_000);
  return { url, pid, stop };
}
