import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Platform } from './http.js';
import type { PgDriver } from './pg-drivers.js';

/** Where a child app keeps its sessions: a Redis (under its own key prefix) or a PostgreSQL table (through `pg` unless `driver` says otherwise). */
export type StoreSpec =
  | { readonly kind: 'redis'; readonly url: string; readonly prefix: string }
  | { readonly kind: 'postgres'; readonly url: string; readonly table: string; readonly driver?: PgDriver };

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
 * listens. The child ends when its stdin closes, so it cannot outlive the
 * test process.
 */
export async function spawnAppProcess(spec: AppProcessSpec): Promise<AppProcess> {
  const started = await spawnListeningScript(SCRIPT, [JSON.stringify(spec)], `app process on ${spec.platform}`, START_TIMEOUT_MS);
  return {
    platform: spec.platform,
    url: started.url,
    pid: started.pid,
    get alive() {
      return started.child.exitCode === null && started.child.signalCode === null;
    },
    stop: started.stop,
  };
}

/** A child Node process that printed `{"url": …}` on its first line once it listened. */
export interface ListeningScript {
  readonly url: string;
  readonly pid: number;
  readonly child: ChildProcess;
  /** Closes its stdin (a clean shutdown) and waits for the exit; kills it after 5 s. */
  stop(): Promise<void>;
}

/**
 * Runs `script` with `args` in a child Node process and resolves with the URL
 * it prints as JSON on its first stdout line; rejects when it exits first or
 * says nothing within `timeoutMs`. Shared by the app and WebSocket instances.
 */
export function spawnListeningScript(script: string, args: readonly string[], what: string, timeoutMs: number): Promise<ListeningScript> {
  const child = spawn(process.execPath, ['--enable-source-maps', script, ...args], {
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
      reject(new Error(`${what} did not start within ${timeoutMs} ms`));
    }, timeoutMs);
    const onEarlyExit = (code: number | null, signal: NodeJS.Signals | null): void => {
      clearTimeout(timer);
      reject(new Error(`${what} exited (${signal ?? code}) before it listened`));
    };
    child.once('exit', onEarlyExit);
    const lines = createInterface({ input: child.stdout as NonNullable<ChildProcess['stdout']> });
    lines.once('line', (line) => {
      clearTimeout(timer);
      child.off('exit', onEarlyExit);
      const { url } = JSON.parse(line) as { url: string };
      resolve({ url, pid: child.pid as number, child, stop: () => stop(child, reap) });
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
