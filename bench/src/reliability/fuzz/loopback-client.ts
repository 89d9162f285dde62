/**
 * A raw HTTP client for hostile requests: node:http with a keep-alive agent,
 * no cookie jar, no redirects, and no traffic anywhere but the loopback
 * interface (it refuses any other host).
 */
import { Agent, METHODS, request as httpRequest, type IncomingHttpHeaders } from 'node:http';

export interface HttpRequest {
  readonly method: string;
  /** Path and query, sent as is (the caller keeps it to characters HTTP allows). */
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: string | Uint8Array | undefined;
}

export interface HttpReply {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  /** The body as UTF-8, cut at 64 KiB. */
  readonly body: string;
  /**
   * Set when the exchange broke HTTP rather than the app answering: `reset` (the server's
   * HTTP parser refused the request — headers past Node's 16 KiB limit, or a method
   * it does not know — and closed the connection while the body was still being sent;
   * status 0) or
   * `body-on-head` (a HEAD answer carried a body; status is the one on its status line).
   */
  readonly quirk?: 'reset' | 'body-on-head';
}

const TIMEOUT_MS = 15_000;
const MAX_BODY = 64 * 1024;
const LOOPBACK = new Set(['127.0.0.1', '[::1]', 'localhost']);
/** Node's (and so Express' and Fastify's) default --max-http-header-size. */
export const MAX_HEADER_BYTES = 16 * 1024;
/** Headers node:http adds (Host, Connection, Content-Length) and the parser's own counting, generously. */
const HEADER_MARGIN = 256;

export class LoopbackClient {
  private readonly agent: Agent;

  constructor(sockets = 64) {
    this.agent = new Agent({ keepAlive: true, maxSockets: sockets });
  }

  /** Sends `request` to `base`; rejects when no response comes (reset, timeout). */
  async send(base: string, request: HttpRequest): Promise<HttpReply> {
    try {
      return await this.once(base, request);
    } catch (error) {
      // A keep-alive socket the server closed just as it was reused: not the request's fault, send it again.
      if ((error as { reusedSocket?: boolean }).reusedSocket === true) return this.once(base, request);
      throw error;
    }
  }

  close(): void {
    this.agent.destroy();
  }

  private once(base: string, request: HttpRequest): Promise<HttpReply> {
    const url = new URL(base);
    if (!LOOPBACK.has(url.hostname)) throw new Error(`refusing to send fuzz traffic to ${url.hostname}: loopback only`);
    const body = request.body === undefined ? undefined : typeof request.body === 'string' ? Buffer.from(request.body, 'utf8') : request.body;
    const headers: Record<string, string> = { ...request.headers };
    if (body !== undefined) headers['content-length'] = String(body.byteLength);
    return new Promise((resolve, reject) => {
      const req = httpRequest(
        { host: url.hostname.replace(/^\[|\]$/g, ''), port: url.port, method: request.method, path: request.path, headers, agent: this.agent, timeout: TIMEOUT_MS },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (chunk: Buffer) => {
            if (size < MAX_BODY) chunks.push(chunk);
            size += chunk.length;
          });
          res.once('error', reject);
          res.once('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8').slice(0, MAX_BODY) }));
        },
      );
      req.once('timeout', () => req.destroy(new Error(`no response within ${TIMEOUT_MS} ms`)));
      req.once('error', (error: Error & { code?: string; rawPacket?: Buffer }) => {
        const statusLine = /^HTTP\/1\.1 (\d{3}) /.exec(error.rawPacket?.toString('latin1') ?? '');
        if (request.method === 'HEAD' && error.code === 'HPE_INVALID_CONSTANT' && statusLine?.[1] !== undefined) {
          resolve({ status: Number(statusLine[1]), headers: {}, body: '', quirk: 'body-on-head' });
        } else if ((error.code === 'ECONNRESET' || error.code === 'EPIPE') && refusedByNodeParser(request)) {
          resolve({ status: 0, headers: {}, body: '', quirk: 'reset' });
        } else {
          Object.assign(error, { reusedSocket: req.reusedSocket });
          reject(error);
        }
      });
      req.end(body);
    });
  }
}

/**
 * Requests Node's HTTP parser answers itself (431 or 400) and then closes the
 * connection on. Header size is estimated (Host, Connection and
 * Content-Length are added by the client), so "near the limit" counts too:
 * replaying such a case gives a 431 on some attempts and a reset on others.
 */
function refusedByNodeParser(request: HttpRequest): boolean {
  let bytes = request.method.length + request.path.length + 12 + HEADER_MARGIN;
  for (const [name, value] of Object.entries(request.headers)) bytes += name.length + Buffer.byteLength(value, 'latin1') + 4;
  return bytes > MAX_HEADER_BYTES || !METHODS.includes(request.method.toUpperCase());
}

/** A header value node:http will send: UTF-8 bytes as latin1 (what a browser puts on the wire), minus CR, LF, NUL and other controls. */
export function headerValue(text: string): string {
  return Buffer.from(text, 'utf8')
    .toString('latin1')
    .replace(/[^\t\x20-\x7e\x80-\xff]/g, '');
}

/** The `name=value` of a Set-Cookie header for cookie `name`, or undefined. */
export function setCookieValue(reply: HttpReply, name: string): string | undefined {
  for (const line of reply.headers['set-cookie'] ?? []) {
    const match = /^([^=;]+)=([^;]*)/.exec(line);
    if (match?.[1] === name) return match[2];
  }
  return undefined;
}
