import { connect, type Socket } from 'node:net';
import { countPerRead, parseMonitorLine, type CommandCount, type MonitorEntry } from './monitor-line.js';

/** Reads made before counting starts, so a first-read effect is not counted. */
const SETTLE_READS = 10;
const MARK_START = 'kcbench-count-start';
const MARK_END = 'kcbench-count-end';

/**
 * Redis commands per authenticated read: watches the private redis-server
 * with MONITOR while `reads` sequential reads of `url` are sent, taking the
 * cookies in turn (sequential, so nothing overlaps), between two ECHO
 * markers sent on a separate connection. Every cookie is read once before
 * counting starts, so the count is the steady state, not the first reads.
 */
export async function countRedisCommands(redisPort: number, url: string, cookies: readonly string[], reads: number): Promise<CommandCount> {
  for (let i = 0; i < Math.max(SETTLE_READS, cookies.length); i++) await read(url, cookies[i % cookies.length] as string);
  const monitor = await Monitor.open(redisPort);
  const control = await RawClient.open(redisPort);
  try {
    // Each wait is registered before its marker is sent: the echo can arrive before the reply does.
    const started = monitor.waitFor(MARK_START);
    await control.command(`ECHO ${MARK_START}`);
    await started;
    for (let i = 0; i < reads; i++) await read(url, cookies[i % cookies.length] as string);
    const ended = monitor.waitFor(MARK_END);
    await control.command(`ECHO ${MARK_END}`);
    return countPerRead(await ended, reads);
  } finally {
    monitor.close();
    control.close();
  }
}

async function read(url: string, cookie: string): Promise<void> {
  const response = await fetch(url, { headers: { cookie } });
  await response.arrayBuffer();
  if (response.status !== 200) throw new Error(`GET ${url} answered ${response.status} while counting commands`);
}

function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => resolve(socket));
    socket.once('error', reject);
  });
}

/** An inline-protocol connection for the markers (node-redis would add its own handshake commands). */
class RawClient {
  private constructor(private readonly socket: Socket) {}

  static async open(port: number): Promise<RawClient> {
    return new RawClient(await open(port));
  }

  command(line: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.socket.once('data', () => resolve());
      this.socket.once('error', reject);
      this.socket.write(`${line}\r\n`);
    });
  }

  close(): void {
    this.socket.destroy();
  }
}

/** A MONITOR connection collecting the commands seen between the markers. */
class Monitor {
  private buffer = '';
  private entries: MonitorEntry[] = [];
  private waiting: { mark: string; resolve: (entries: MonitorEntry[]) => void } | undefined;

  private constructor(private readonly socket: Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => this.receive(chunk));
  }

  static async open(port: number): Promise<Monitor> {
    const monitor = new Monitor(await open(port));
    const ok = monitor.waitFor('+OK');
    monitor.socket.write('MONITOR\r\n');
    await ok;
    return monitor;
  }

  /** Resolves with the entries since the previous marker once `mark` is echoed. */
  waitFor(mark: string): Promise<MonitorEntry[]> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`MONITOR did not see ${mark} within 30 s`)), 30_000);
      this.waiting = {
        mark,
        resolve: (entries) => {
          clearTimeout(timer);
          resolve(entries);
        },
      };
    });
  }

  close(): void {
    this.socket.destroy();
  }

  private receive(chunk: string): void {
    this.buffer += chunk;
    let end: number;
    while ((end = this.buffer.indexOf('\r\n')) >= 0) {
      const line = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end + 2);
      // MONITOR's own reply: from here on every command is reported.
      if (line === '+OK' && this.waiting?.mark === '+OK') {
        this.waiting.resolve([]);
        this.waiting = undefined;
        continue;
      }
      const entry = parseMonitorLine(line);
      if (entry === undefined) continue;
      const waiting = this.waiting;
      if (waiting !== undefined && entry.command === 'ECHO' && entry.firstArgument === waiting.mark) {
        const entries = this.entries;
        this.entries = [];
        waiting.resolve(entries);
        this.waiting = undefined;
      } else {
        this.entries.push(entry);
      }
    }
  }
}
