import { spawn, type ChildProcess } from 'node:child_process';
import { createClient } from 'redis';
import { track, waitForExit } from './children.js';
import { freePort } from './free-port.js';

export interface PrivateRedisOptions {
  /**
   * A directory for an append-only file fsynced on every write, so that a
   * SIGKILL loses nothing that was acknowledged (the fault-injection runs kill
   * it and expect the sessions back). Without it there is no persistence.
   */
  readonly appendOnlyDir?: string;
}

/**
 * A redis-server of the bench's own, on a free loopback port: the shared one
 * on 6379 carries other engineers' traffic, which would show up in the
 * command counts and the timings.
 */
export class PrivateRedis {
  private constructor(
    readonly port: number,
    private child: ChildProcess,
    private readonly options: PrivateRedisOptions,
  ) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  static async start(options: PrivateRedisOptions = {}): Promise<PrivateRedis> {
    const port = await freePort();
    const redis = new PrivateRedis(port, spawnServer(port, options), options);
    await redis.ready();
    return redis;
  }

  /** `redis-server --version`'s first line, for the report. */
  static version(): Promise<string> {
    return new Promise((resolve) => {
      const child = spawn('redis-server', ['--version'], { stdio: ['ignore', 'pipe', 'ignore'] });
      let out = '';
      child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
      child.once('error', () => resolve('unavailable'));
      child.once('exit', () => resolve(/v=(\S+)/.exec(out)?.[1] ?? (out.trim() || 'unavailable')));
    });
  }

  async stop(): Promise<void> {
    // A paused server would not act on SIGTERM.
    this.child.kill('SIGCONT');
    this.child.kill('SIGTERM');
    await waitForExit(this.child, 5_000);
  }

  /** SIGKILL by pid, as a crash would: no shutdown, no final save. */
  async kill(): Promise<void> {
    this.child.kill('SIGKILL');
    await waitForExit(this.child, 5_000);
  }

  /** SIGSTOP: the server keeps its connections but answers nothing, as a hung or swapping host does. */
  pause(): void {
    this.child.kill('SIGSTOP');
  }

  /** SIGCONT after `pause`. */
  resume(): void {
    this.child.kill('SIGCONT');
  }

  /** Starts it again on the same port (and append-only file) after `kill` or `stop`. */
  async restart(): Promise<void> {
    this.child = spawnServer(this.port, this.options);
    await this.ready();
  }

  private async ready(): Promise<void> {
    const child = this.child;
    const failed = new Promise<never>((_, reject) => {
      child.once('error', (error) => reject(new Error(`cannot start redis-server: ${error.message}`)));
      child.once('exit', (code) => reject(new Error(`redis-server exited with code ${code} (port ${this.port} taken?)`)));
    });
    failed.catch(() => {});
    await Promise.race([this.waitUntilReady(), failed]);
  }

  private async waitUntilReady(): Promise<void> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const client = createClient({ url: this.url, socket: { reconnectStrategy: false } });
      client.on('error', () => {});
      try {
        await client.connect();
        await client.ping();
        await client.close();
        return;
      } catch (error) {
        if (client.isOpen) client.destroy();
        if (Date.now() > deadline) throw new Error(`redis-server on port ${this.port} is not answering: ${String(error)}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
  }
}

function spawnServer(port: number, options: PrivateRedisOptions): ChildProcess {
  const persistence =
    options.appendOnlyDir === undefined
      ? ['--appendonly', 'no']
      : ['--dir', options.appendOnlyDir, '--appendonly', 'yes', '--appendfsync', 'always'];
  return track(spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', ...persistence], { stdio: 'ignore' }));
}
