import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The compiled entry point `npm start` runs. */
export const MAIN = resolve(dirname(fileURLToPath(import.meta.url)), '../../src/main.js');
/** The repository root (apps/demo/dist/test/support → four levels up), where `npm run admin` is run. */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../../../..');
const START_DEADLINE_MS = 60_000;

export interface Running {
  readonly child: ChildProcess;
  readonly url: string;
  readonly output: () => string;
}

/** Starts main.js and resolves with the URL it prints, or rejects with everything it printed. */
export function start(env: Record<string, string>): Promise<Running> {
  const child = spawn(process.execPath, ['--enable-source-maps', MAIN], {
    env: { PATH: process.env['PATH'] ?? '', PORT: '0', HOST: '127.0.0.1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`no start-up banner within ${START_DEADLINE_MS} ms:\n${output}`));
    }, START_DEADLINE_MS);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /open (http:\/\/\S+?)\/?\s/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolvePromise({ child, url: (match[1] as string).replace('localhost', '127.0.0.1'), output: () => output });
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`exited with ${code} before starting:\n${output}`));
    });
  });
}

/**
 * Runs main.js to completion and returns its exit code and output (for refusals to start). One that
 * starts instead is killed after START_DEADLINE_MS: code null, and the output says so.
 */
export function runToExit(env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, [MAIN], { env: { PATH: process.env['PATH'] ?? '', PORT: '0', HOST: '127.0.0.1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const timer = setTimeout(() => {
    output += `\n(still running after ${START_DEADLINE_MS} ms: killed)`;
    child.kill('SIGKILL');
  }, START_DEADLINE_MS);
  return new Promise((resolvePromise) =>
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolvePromise({ code, output });
    }),
  );
}

export function stop(running: Running): Promise<number | null> {
  return new Promise((resolvePromise) => {
    running.child.once('exit', (code) => resolvePromise(code));
    running.child.kill('SIGTERM');
  });
}


/** `npm run admin -- <args>` from the repository root, as an operator types it; its exit code and output. */
export function runAdminCli(args: readonly string[], env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const child = spawn(npm, ['run', '--silent', 'admin', '--', ...args], {
    cwd: REPO_ROOT,
    env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  return new Promise((resolvePromise) => child.once('exit', (code) => resolvePromise({ code, output })));
}
