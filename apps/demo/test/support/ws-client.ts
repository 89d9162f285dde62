import { WebSocket } from 'ws';
import type { Client } from './http-client.js';

export interface OpenSocket {
  readonly socket: WebSocket;
  /** Resolves with the close code; `within` rejects if it takes longer. */
  closed(withinMs: number): Promise<number>;
  /** The next message, parsed. */
  next(withinMs?: number): Promise<unknown>;
}

function wsUrl(client: Client): string {
  return `${client.base.replace(/^http/, 'ws')}/ws`;
}

function cookieHeader(client: Client): string {
  return [...client.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
}

/** The HTTP status of a refused handshake (no socket was opened). */
export function refusedStatus(client: Client, headers: Record<string, string> = {}): Promise<number> {
  const cookie = cookieHeader(client);
  const socket = new WebSocket(wsUrl(client), { headers: { ...(cookie ? { cookie } : {}), ...headers } });
  return new Promise((resolve, reject) => {
    socket.once('unexpected-response', (_request, response) => {
      resolve(response.statusCode ?? 0);
      socket.terminate();
    });
    socket.once('open', () => {
      socket.terminate();
      reject(new Error('the handshake was accepted'));
    });
    socket.once('error', () => undefined);
  });
}

/** Opens /ws with the client's cookies; rejects when the handshake is refused. */
export function openSocket(client: Client): Promise<OpenSocket> {
  const socket = new WebSocket(wsUrl(client), { headers: { cookie: cookieHeader(client) } });
  const messages: unknown[] = [];
  const waiting: ((message: unknown) => void)[] = [];
  socket.on('message', (data) => {
    const message: unknown = JSON.parse(data.toString());
    const waiter = waiting.shift();
    if (waiter) waiter(message);
    else messages.push(message);
  });
  const closed = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    socket.once('unexpected-response', (_request, response) => reject(new Error(`handshake refused: ${response.statusCode}`)));
    socket.once('error', reject);
    socket.once('open', () =>
      resolve({
        socket,
        closed: (withinMs) => deadline(closed, withinMs, 'the socket to close'),
        next: (withinMs = 2000) =>
          deadline(
            messages.length > 0 ? Promise.resolve(messages.shift()) : new Promise((r) => waiting.push(r)),
            withinMs,
            'a message',
          ),
      }),
    );
  });
}

function deadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no ${what} within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
