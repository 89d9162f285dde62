import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { SERVER_CONFIG_ENV, type FromServer, type ServerConfig, type ToServer } from '../servers/protocol.js';
import { track, waitForExit } from './children.js';
import { nextMessage } from './ipc.js';

/** PGlite runs initdb on start (3–5 s here, more on a busy machine). */
const START_TIMEOUT_MS = 60_000;
const TAIL_BYTES = 4096;

/** One variant server in its own process, driven over IPC. */
export class ServerProcess {
  private constructor(
    readonly name: string,
    readonly port: number,
    private readonly child: ChildProcess,
    private readonly tail: () => string,
  ) {}

  get baseUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  /** Forks `file` (relative to `bench/dist/src/servers/`) with `config` and waits until it listens. */
  static async start(name: string, file: string, config: ServerConfig, env: Readonly<Record<string, string>> = {}): Promise<ServerProcess> {
    const child = track(
      fork(fileURLToPath(new URL(`../servers/${file}`, import.meta.url)), [], {
        // The runner's own flags (--inspect, --enable-source-maps) would change what is measured.
        execArgv: [],
        env: { ...process.env, ...env, [SERVER_CONFIG_ENV]: JSON.stringify(config) },
        stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      }),
    );
    // Always drained (a full pipe would stall the server); kept only to explain a failure.
    let output = '';
    const keep = (chunk: Buffer): void => {
      output = (output + chunk.toString('utf8')).slice(-TAIL_BYTES);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    const tail = (): string => output.trim();
    try {
      const ready = await nextMessage<FromServer, 'ready'>(child, 'ready', START_TIMEOUT_MS, () => `server ${name}`);
      return new ServerProcess(name, ready.port, child, tail);
    } catch (error) {
      child.kill('SIGKILL');
      throw new Error(`${(error as Error).message}\n${tail()}`);
    }
  }

  /** The server's own user + system CPU time so far, in microseconds. */
  async cpuMicros(): Promise<number> {
    this.send({ type: 'cpu' });
    const usage = await nextMessage<FromServer, 'cpu'>(this.child, 'cpu', 10_000, () => `server ${this.name}`);
    return usage.user + usage.system;
  }

  /** Sends a message of an experiment's own protocol (the reliability race servers). */
  post(message: { readonly type: string; readonly [field: string]: unknown }): void {
    this.child.send(message);
  }

  /** Sends `message` and waits for the server's next message of type `reply`. */
  async ask<M extends { type: string }, T extends M['type']>(
    message: { readonly type: string; readonly [field: string]: unknown },
    reply: T,
    timeoutMs = 10_000,
  ): Promise<Extract<M, { type: T }>> {
    const answer = nextMessage<M, T>(this.child, reply, timeoutMs, () => `server ${this.name}`);
    this.child.send(message);
    return answer;
  }

  /** Listens to every message the server sends; returns the function that stops listening. */
  onMessage(listener: (message: { readonly type: string }) => void): () => void {
    this.child.on('message', listener);
    return () => this.child.off('message', listener);
  }

  /** Exit code or signal once the server has exited; undefined while it runs. */
  exited(): string | undefined {
    if (this.child.signalCode !== null) return this.child.signalCode;
    return this.child.exitCode === null ? undefined : `code ${this.child.exitCode}`;
  }

  /** The last lines the server printed, for error messages. */
  output(): string {
    return this.tail();
  }

  /** Asks for a clean close (store clients included); SIGKILL by pid after 5 s. */
  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.connected) this.send({ type: 'stop' });
    await waitForExit(this.child, 5_000);
  }

  private send(message: ToServer): void {
    this.child.send(message);
  }
}
