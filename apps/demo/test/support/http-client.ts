/**
 * A tiny HTTP client with a cookie jar, for tests over real HTTP. It keeps
 * `__Host-` and Secure cookies (supertest's agent drops them over http) and
 * never follows redirects, so tests see the 303s themselves.
 */
export interface Reply {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  /** The parsed JSON body, or undefined when the body is not JSON. */
  readonly json: any;
  readonly setCookies: readonly string[];
}

export interface RequestOptions {
  readonly json?: unknown;
  /** A raw body, sent with `contentType` (default application/json). */
  readonly raw?: string;
  readonly contentType?: string;
  readonly form?: Readonly<Record<string, string>>;
  readonly headers?: Readonly<Record<string, string>>;
  readonly bearer?: string;
  /**
   * Unsafe cookie requests fetch a CSRF token from GET /api/auth/csrf first
   * and send it as `x-csrf-token`, as a browser app would. False sends none.
   */
  readonly csrf?: boolean;
}

const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

export class Client {
  readonly cookies = new Map<string, string>();

  constructor(
    readonly base: string,
    readonly userAgent = 'keycard-demo-test',
    /** Sent as X-Forwarded-For (the test app trusts the proxy), so each client can have its own IP. */
    readonly ip?: string,
  ) {}

  get(path: string, options: RequestOptions = {}): Promise<Reply> {
    return this.send('GET', path, options);
  }
  post(path: string, options: RequestOptions = {}): Promise<Reply> {
    return this.send('POST', path, options);
  }
  put(path: string, options: RequestOptions = {}): Promise<Reply> {
    return this.send('PUT', path, options);
  }
  delete(path: string, options: RequestOptions = {}): Promise<Reply> {
    return this.send('DELETE', path, options);
  }

  async send(method: string, path: string, options: RequestOptions = {}): Promise<Reply> {
    const headers: Record<string, string> = { 'user-agent': this.userAgent, accept: 'application/json' };
    if (this.ip) headers['x-forwarded-for'] = this.ip;
    let body: string | undefined;
    if (options.json !== undefined) {
      body = JSON.stringify(options.json);
      headers['content-type'] = 'application/json';
    } else if (options.form) {
      body = new URLSearchParams(options.form).toString();
      headers['content-type'] = 'application/x-www-form-urlencoded';
    } else if (options.raw !== undefined) {
      body = options.raw;
      headers['content-type'] = options.contentType ?? 'application/json';
    }
    if (options.bearer) headers['authorization'] = `Bearer ${options.bearer}`;
    else if (UNSAFE.has(method) && options.csrf !== false) {
      // Same headers (X-Forwarded-Proto decides the cookie names), so the token fits the request it is for.
      const token = (await this.get('/api/auth/csrf', { headers: options.headers ?? {} })).json?.token;
      if (typeof token === 'string' && token !== '') headers['x-csrf-token'] = token;
    }
    const cookie = [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
    if (cookie) headers['cookie'] = cookie;
    Object.assign(headers, options.headers);
    const response = await fetch(new URL(path, this.base), { method, headers, body, redirect: 'manual' });
    const text = await response.text();
    const setCookies = response.headers.getSetCookie();
    for (const line of setCookies) this.store(line);
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    return { status: response.status, headers: response.headers, text, json, setCookies };
  }

  /** A copy with the same cookies that shares nothing afterwards (a stolen cookie, or the same browser after a restart at `base`). */
  clone(userAgent = this.userAgent, ip = this.ip, base = this.base): Client {
    const copy = new Client(base, userAgent, ip);
    for (const [name, value] of this.cookies) copy.cookies.set(name, value);
    return copy;
  }

  private store(line: string): void {
    const [pair = '', ...attributes] = line.split(';');
    const eq = pair.indexOf('=');
    const name = pair.slice(0, eq).trim();
    const value = pair.slice(eq + 1).trim();
    const expired = attributes.some((attribute) => /^\s*max-age=0\s*$/i.test(attribute));
    if (expired || value === '') this.cookies.delete(name);
    else this.cookies.set(name, value);
  }
}

/** The attributes of the Set-Cookie line for `name`, lower-cased keys; undefined when there is none. */
export function cookieAttributes(reply: Reply, name: string): Map<string, string> | undefined {
  const line = reply.setCookies.find((candidate) => candidate.startsWith(`${name}=`));
  if (!line) return undefined;
  const attributes = new Map<string, string>();
  const [pair = '', ...rest] = line.split(';');
  attributes.set('value', pair.slice(pair.indexOf('=') + 1));
  for (const part of rest) {
    const [key = '', value = ''] = part.trim().split('=');
    attributes.set(key.toLowerCase(), value);
  }
  return attributes;
}
