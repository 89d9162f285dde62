import { spawn, type ChildProcess } from 'node:child_process';
import { createClient } from 'redis';
import { track, waitForExit } from './children.js';
import { freePort } from './free-port.js';

/**
 * A redis-server of the bench's own, on a free loopback port, without
 * persistence: the shared one on 6379 carries other engineers' traffic,
 * which would show up in the command counts and the timings.
 */
export class PrivateRedis {
  private constructor(
    readonly port: number,
    private readonly child: ChildProcess,
  ) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  static async start(): Promise<PrivateRedis> {
    const port = await freePort();
    const child = track(
      spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
        stdio: 'ignore',
      }),
    );
    const failed = new Promise<never>((_, reject) => {
      child.once('error', (error) => reject(new Error(`cannot start redis-server: ${error.message}`)));
      child.once('exit', (code) => reject(new Error(`redis-server exited with code ${code} (port ${port} taken?)`)));
    });
    failed.catch(() => {});
    const redis = new PrivateRedis(port, child);
    await Promise.race([redis.waitUntilReady(), failed]);
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
    this.child.kill('SIGTERM');
    await waitForExit(this.child, 5_000);
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
