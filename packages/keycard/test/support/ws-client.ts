import assert from 'node:assert/strict';
import type { IncomingHttpHeaders } from 'node:http';
import { WebSocket } from 'ws';

/** How long any single socket event may take before a test fails rather than hangs. */
const DEADLINE_MS = 5000;

/** The answer to a handshake: an open socket, or the HTTP response that refused it. */
export type Handshake =
  | { readonly open: true; readonly socket: TestSocket; readonly headers: IncomingHttpHeaders }
  | { readonly open: false; readonly status: number; readonly headers: IncomingHttpHeaders; readonly body: unknown };

export interface HandshakeOptions {
  /** Sent exactly as given; absent means no Cookie header. */
  readonly cookie?: string | null;
  /** Absent means no Origin header (a non-browser client). */
  readonly origin?: string;
  readonly headers?: Readonly<Record<string, string>>;
}

/**
 * Opens `ws://…<path>` with a real RFC 6455 client (`ws`) and reports what
 * the server did with the handshake. Resolves on the 101 or on any other
 * HTTP status (with its body parsed as JSON when it is JSON).
 */
export function handshake(baseUrl: string, path: string, options: HandshakeOptions = {}): Promise<Handshake> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.cookie) headers['cookie'] = options.cookie;
  if (options.origin !== undefined) headers['origin'] = options.origin;
  const url = `${baseUrl.replace(/^http/, 'ws')}${path}`;
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { headers });
    const timer = setTimeout(() => {
      socket.terminate();
      reject(new Error(`no answer to the handshake on ${url} within ${DEADLINE_MS} ms`));
    }, DEADLINE_MS);
    let upgradeHeaders: IncomingHttpHeaders = {};
    socket.once('upgrade', (response) => {
      upgradeHeaders = response.headers;
    });
    socket.once('open', () => {
      clearTimeout(timer);
      resolve({ open: true, socket: new TestSocket(socket), headers: upgradeHeaders });
    });
    socket.once('unexpected-response', (request, response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.once('end', () => {
        clearTimeout(timer);
        const text = Buffer.concat(chunks).toString('utf8');
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch {
          // not JSON: keep the text
        }
        request.destroy();
        resolve({ open: false, status: response.statusCode ?? 0, headers: response.headers, body });
      });
    });
    socket.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

/** Opens a socket and asserts the server accepted it. */
export async function connect(baseUrl: string, path: string, options: HandshakeOptions = {}): Promise<TestSocket> {
  const result = await handshake(baseUrl, path, options);
  assert.ok(result.open, `expected the handshake to be accepted, got ${result.open ? 101 : `${result.status} ${JSON.stringify(result.body)}`}`);
  return result.socket;
}

/** Asserts a refused handshake: status, and a keycard JSON body with `code` and no token or stack. */
export function expectRefused(result: Handshake, status: number, code: string): void {
  assert.equal(result.open, false, `expected ${status}, but the socket opened`);
  if (result.open) return;
  assert.equal(result.status, status, `status, body ${JSON.stringify(result.body)}`);
  const body = result.body as { statusCode?: unknown; code?: unknown; message?: unknown };
  assert.equal(body.statusCode, status);
  assert.equal(body.code, code);
  assert.equal(typeof body.message, 'string');
  assert.equal(result.headers['cache-control'], 'no-store');
}

/** How and when a socket closed. */
export interface Closed {
  readonly code: number;
  readonly reason: string;
  /** Milliseconds from `waitForClose` being called (or `since`) to the close event. */
  readonly afterMs: number;
}

/** A client socket with its incoming messages queued, so none is missed between awaits. */
export class TestSocket {
  private readonly queue: unknown[] = [];
  private readonly waiting: ((message: unknown) => void)[] = [];
  private closedWith: { code: number; reason: string; at: number } | null = null;
  private readonly closeWaiters: (() => void)[] = [];

  constructor(readonly raw: WebSocket) {
    raw.on('message', (data: Buffer) => {
      let message: unknown = data.toString('utf8');
      try {
        message = JSON.parse(message as string);
      } catch {
        // not JSON: keep the text
      }
      const waiter = this.waiting.shift();
      if (waiter) waiter(message);
      else this.queue.push(message);
    });
    raw.once('close', (code: number, reason: Buffer) => {
      this.closedWith = { code, reason: reason.toString('utf8'), at: performance.now() };
      for (const wake of this.closeWaiters.splice(0)) wake();
    });
    // A refused or reset connection is reported through `close`; this keeps it from being an unhandled error.
    raw.on('error', () => undefined);
  }

  get isOpen(): boolean {
    return this.raw.readyState === WebSocket.OPEN;
  }

  send(message: unknown): void {
    this.raw.send(typeof message === 'string' ? message : JSON.stringify(message));
  }

  /** The next message from the server (queued ones first). */
  next(deadlineMs = DEADLINE_MS): Promise<unknown> {
    const queued = this.queue.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.splice(this.waiting.indexOf(deliver), 1);
        reject(new Error(`no message within ${deadlineMs} ms`));
      }, deadlineMs);
      const deliver = (message: unknown): void => {
        clearTimeout(timer);
        resolve(message);
      };
      this.waiting.push(deliver);
    });
  }

  /** Sends `message` and returns the server's next message. */
  async ask(message: unknown): Promise<unknown> {
    this.send(message);
    return this.next();
  }

  /**
   * Resolves with the close code, reason and how long it took from `since`
   * (default: now) once the socket is closed; rejects if it is still open
   * after `deadlineMs`. Never sleeps: it waits for the event.
   */
  waitForClose(deadlineMs = DEADLINE_MS, since = performance.now()): Promise<Closed> {
    const settled = (): Closed => {
      const closed = this.closedWith as { code: number; reason: string; at: number };
      return { code: closed.code, reason: closed.reason, afterMs: closed.at - since };
    };
    if (this.closedWith) return Promise.resolve(settled());
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`socket still open after ${deadlineMs} ms`)), deadlineMs);
      this.closeWaiters.push(() => {
        clearTimeout(timer);
        resolve(settled());
      });
    });
  }

  /** Closes from the client side and waits for the close to complete. */
  async close(): Promise<void> {
    if (this.closedWith) return;
    const closed = this.waitForClose();
    this.raw.close(1000, 'test done');
    await closed;
  }
}
