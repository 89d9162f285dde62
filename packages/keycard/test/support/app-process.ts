import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Platform } from './http.js';

/** Where a child app keeps its sessions: a Redis (under its own key prefix) or a PostgreSQL table. */
export type StoreSpec =
  | { readonly kind: 'redis'; readonly url: string; readonly prefix: string }
  | { readonly kind: 'postgres'; readonly url: string; readonly table: string };

/** What `app-process-main.js` receives as its one argument (JSON). */
export interface AppProcessSpec {
  readonly platform: Platform;
  readonly store: StoreSpec;
  /** `storeTimeout` in ms; default 1000. */
  readonly storeTimeout?: number;
}

/** The session test app (`healthApp`) running in its own Node process. */
export interface AppProcess {
  readonly platform: Platform;
  /** `http://127.0.0.1:<port>`, no trailing slash. */
  readonly url: string;
  readonly pid: number;
  /** False once the process has exited (crashed or stopped). */
  readonly alive: boolean;
  /** Closes its stdin (a clean shutdown) and waits for the exit; kills it after 5 s. */
  stop(): Promise<void>;
}

const SCRIPT = fileURLToPath(new URL('./app-process-main.js', import.meta.url));
const START_TIMEOUT_MS = 20_000;

/**
 * Starts one application instance in a child process, as a deployment with
 * several instances behind a load balancer runs them: nothing is shared with
 * the test process or the other instances but the store. Resolves once it
 * listens. Like `spawnInstance` (ws-instance.ts), the child ends when its
 * stdin closes, so it cannot outlive the test process.
 */
export function spawnAppProcess(spec: AppProcessSpec): Promise<AppProcess> {
  const child = spawn(process.execPath, ['--enable-source-maps', SCRIPT, JSON.stringify(spec)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const reap = (): void => {
    child.kill('SIGKILL');
  };
  process.once('exit', reap);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`app process on ${spec.platform} did not start within ${START_TIMEOUT_MS} ms`));
    }, START_TIMEOUT_MS);
    const onEarlyExit = (code: number | null, signal: NodeJS.Signals | null): void => {
      clearTimeout(timer);
      reject(new Error(`app process on ${spec.platform} exited (${signal ?? code}) before it listened`));
    };
    child.once('exit', onEarlyExit);
    const lines = createInterface({ input: child.stdout as NonNullable<ChildProcess['stdout']> });
    lines.once('line', (line) => {
      clearTimeout(timer);
      child.off('exit', onEarlyExit);
      const { url } = JSON.parse(line) as { url: string };
      resolve({
        platform: spec.platform,
        url,
        pid: child.pid as number,
        get alive() {
          return child.exitCode === null && child.signalCode === null;
        },
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
