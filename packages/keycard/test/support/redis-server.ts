import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Throwaway redis-server processes for tests that need their own instance
 * (isolated stats, a server to kill, a cluster). Each runs on a free loopback
 * port, persists nothing (`--save "" --appendonly no`) and works in its own
 * temp directory. Every process started here is killed when the test process
 * exits, even when a test forgets to stop it.
 */

/** Live processes and their directories, cleaned up synchronously if the test process exits first. */
const running = new Map<ChildProcess, string>();
process.once('exit', () => {
  for (const [child, dir] of running) {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});

let binaryChecked: string | false | undefined;

/**
 * Why suites that start their own redis-server must skip (the binary is not
 * installed), or false. With REQUIRE_SERVICES=1 (CI) a missing binary throws
 * instead, so nothing skips silently there.
 */
export function redisServerSkip(): string | false {
  if (binaryChecked === undefined) {
    const probe = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
    binaryChecked = probe.status === 0 ? false : 'redis-server is not installed (apt-get install redis-server)';
  }
  if (binaryChecked && process.env['REQUIRE_SERVICES'] === '1') {
    throw new Error(`REQUIRE_SERVICES=1 but ${binaryChecked}`);
  }
  if (binaryChecked) process.stderr.write(`SKIPPED (${binaryChecked}); set REQUIRE_SERVICES=1 to make this an error\n`);
  return binaryChecked;
}

/** A port nobody listened on a moment ago (the kernel's pick for port 0). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export interface RedisServerOptions {
  /** A fixed port; default: a free one (retried if another process takes it first). */
  readonly port?: number;
  /** Extra redis-server arguments, e.g. `['--cluster-enabled', 'yes']`. */
  readonly args?: readonly string[];
  /** How long to wait for "Ready to accept connections" and a PONG. Default 10 000 ms. */
  readonly readyTimeoutMs?: number;
  /**
   * A configuration file's text, written to the server's directory and given
   * as the first argument: Sentinel mode (`args: ['--sentinel']`) needs one,
   * since a sentinel rewrites its configuration as it learns the topology.
   */
  readonly config?: string;
}

const READY = 'Ready to accept connections';
/** A sentinel never prints READY; this line comes once it is listening and has loaded its configuration. */
const SENTINEL_READY = 'Sentinel ID is';
const PORT_TAKEN = /Address already in use/i;

export class RedisServer {
  readonly host = '127.0.0.1';
  /** Private working directory (dumps, cluster config); removed by `stop`. */
  readonly dir: string;
  private child: ChildProcess | null = null;
  private output = '';

  private constructor(
    readonly port: number,
    private readonly args: readonly string[],
    private readonly readyTimeoutMs: number,
    dir: string,
    private readonly configFile: string | null,
  ) {
    this.dir = dir;
  }

  /** Starts redis-server and resolves once it answers PING. */
  static async start(options: RedisServerOptions = {}): Promise<RedisServer> {
    const attempts = options.port === undefined ? 5 : 1;
    let lastError: unknown;
    for (let attempt = 0; attempt < attempts; attempt++) {
      const port = options.port ?? (await freePort());
      const dir = mkdtempSync(join(tmpdir(), `keycard-redis-${port}-`));
      let configFile: string | null = null;
      if (options.config !== undefined) {
        configFile = join(dir, 'redis.conf');
        writeFileSync(configFile, options.config);
      }
      const server = new RedisServer(port, options.args ?? [], options.readyTimeoutMs ?? 10_000, dir, configFile);
      try {
        await server.launch();
        return server;
      } catch (error) {
        rmSync(dir, { recursive: true, force: true });
        lastError = error;
        // Only a port taken between freePort() and bind() is worth another try.
        if (!(error instanceof Error && PORT_TAKEN.test(error.message))) throw error;
      }
    }
    throw lastError;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== null;
  }

  get url(): string {
    return `redis://${this.host}:${this.port}`;
  }

  /** Ends the process (SIGKILL by default: a crash, no goodbye to clients) and waits for it to exit. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.child;
    if (!child) return;
    const exited = exitOf(child, 5000);
    child.kill(signal);
    await exited;
  }

  /**
   * Freezes the process (SIGSTOP): connections stay open but nothing answers,
   * as with a hung server or a network partition. Undo with `resume`.
   */
  pause(): void {
    this.child?.kill('SIGSTOP');
  }

  resume(): void {
    this.child?.kill('SIGCONT');
  }

  /** Starts the server again on the same port, with the same arguments (and, since nothing persists, no data). */
  async restart(): Promise<void> {
    if (this.child) await this.kill();
    await this.launch();
  }

  /** Kills the process and removes its directory. */
  async stop(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** Sends one command on a fresh connection; see `redisCommand`. */
  command(...args: readonly (string | number)[]): Promise<string | number> {
    return redisCommand(this.port, args);
  }

  private async launch(): Promise<void> {
    this.output = '';
    const child = spawn(
      'redis-server',
      [
        ...(this.configFile === null ? [] : [this.configFile]),
        '--port', String(this.port),
        '--bind', this.host,
        '--save', '',
        '--appendonly', 'no',
        '--dir', this.dir,
        '--daemonize', 'no',
        '--logfile', '',
        ...this.args,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    running.set(child, this.dir);
    this.child = child;
    child.once('exit', () => {
      running.delete(child);
      if (this.child === child) this.child = null;
    });
    const ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`redis-server on port ${this.port} not ready within ${this.readyTimeoutMs} ms:\n${this.output}`)),
        this.readyTimeoutMs,
      );
      const onData = (chunk: Buffer): void => {
        // Keep only the tail: enough to explain a failure, bounded for long-lived servers.
        this.output = (this.output + chunk.toString('utf8')).slice(-4000);
        if (this.output.includes(this.args.includes('--sentinel') ? SENTINEL_READY : READY)) {
          clearTimeout(timer);
          resolve();
        }
      };
      // Always drained: a full pipe would block redis-server on its next log line.
      child.stdout?.on('data', onData);
      child.stderr?.on('data', onData);
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`redis-server on port ${this.port} exited (${signal ?? code}) before it was ready:\n${this.output}`));
      });
      child.once('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
    });
    try {
      await ready;
      const pong = await redisCommand(this.port, ['PING']);
      if (pong !== 'PONG') throw new Error(`redis-server on port ${this.port} answered PING with ${String(pong)}`);
    } catch (error) {
      if (this.child === child) await this.kill();
      throw error;
    }
  }
}

function exitOf(child: ChildProcess, ms: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`process ${child.pid} did not exit within ${ms} ms`)), ms);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/**
 * One command over a fresh loopback connection, speaking RESP by hand so that
 * helpers need no client library. Understands the replies that admin commands
 * give (simple string, error, integer, bulk string); rejects on an error
 * reply, a refused connection or after `timeoutMs`.
 */
export function redisCommand(port: number, args: readonly (string | number)[], timeoutMs = 2000): Promise<string | number> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    let buffer = Buffer.alloc(0);
    const finish = (error: Error | null, value?: string | number): void => {
      socket.destroy();
      if (error) reject(error);
      else resolve(value as string | number);
    };
    socket.setTimeout(timeoutMs, () => finish(new Error(`no reply from 127.0.0.1:${port} within ${timeoutMs} ms`)));
    socket.once('error', (error) => finish(error));
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      const lineEnd = buffer.indexOf('\r\n');
      if (lineEnd < 0) return;
      const type = String.fromCharCode(buffer[0] ?? 0);
      const line = buffer.subarray(1, lineEnd).toString('utf8');
      if (type === '+') return finish(null, line);
      if (type === '-') return finish(new Error(line));
      if (type === ':') return finish(null, Number(line));
      if (type === '$') {
        const length = Number(line);
        if (length < 0) return finish(null, '');
        if (buffer.length < lineEnd + 2 + length + 2) return; // wait for the rest
        return finish(null, buffer.subarray(lineEnd + 2, lineEnd + 2 + length).toString('utf8'));
      }
      finish(new Error(`unexpected RESP reply type ${JSON.stringify(type)}`));
    });
    const encoded = args.map((arg) => {
      const bytes = Buffer.from(String(arg), 'utf8');
      return `$${bytes.length}\r\n${bytes.toString('utf8')}\r\n`;
    });
    socket.write(`*${args.length}\r\n${encoded.join('')}`);
  });
}
