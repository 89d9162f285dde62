import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
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
export function spawnInstance(platform: Platform, redisUrl: string, prefix: string): Promise<Instance> {
  const child = spawn(process.execPath, ['--enable-source-maps', SCRIPT, platform, redisUrl, prefix], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  // If the test process dies first, the closed stdin ends the child too; this covers a hard exit.
  const reap = (): void => {
    child.kill('SIGKILL');
  };
  process.once('exit', reap);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`instance on ${platform} did not start within 15 s`));
    }, 15_000);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`instance on ${platform} exited (${signal ?? code}) before it listened`));
    });
    const lines = createInterface({ input: child.stdout as NonNullable<ChildProcess['stdout']> });
    lines.once('line', (line) => {
      clearTimeout(timer);
      const { url } = JSON.parse(line) as { url: string };
      resolve({
        url,
        pid: child.pid as number,
        stop: () => stop(child, reap),
      });
    });
  });
}

function stop(child: ChildProcess, reap: () => void): Promise<void> {
  process.off('exit', reap);
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.stdin?.end();
  });
}
