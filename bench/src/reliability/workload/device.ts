/**
 * One browser of a simulated user: its cookies and the requests it sends.
 * The session cookie is kept even when the server clears it, because the
 * check that matters is whether a copy of an ended session's cookie (a stolen
 * one, a second tab) still works.
 */

const SESSION_COOKIE = 'sid';
/** Far above any bound the experiment checks: a request that takes this long is a hung app. */
const REQUEST_TIMEOUT_MS = 15_000;
const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

export interface Answer {
  readonly status: number;
  readonly body: unknown;
  /** When the request was sent and how long it took, in ms of performance.now(). */
  readonly at: number;
  readonly ms: number;
  /** The Retry-After header, when the answer had one. */
  readonly retryAfter?: string;
  /** 'csrf' when the token fetch before an unsafe request failed, so the request itself was never sent. */
  readonly stage: 'csrf' | 'request';
}

/** Requests sent by every device of this process, for the report's rate. */
export const traffic = { requests: 0 };

export class Device {
  /** `sid=<value>` of the last session cookie the server set; never cleared. */
  session: string | undefined;
  private readonly others = new Map<string, string>();

  constructor(readonly userAgent: string) {}

  /**
   * Sends one request. Unsafe ones first fetch a CSRF token (as the demo's
   * pages and SPA do); if that fetch does not answer 200, its answer is
   * returned instead.
   */
  async send(base: string, method: string, path: string, json?: unknown): Promise<Answer> {
    const headers: Record<string, string> = { accept: 'application/json', 'user-agent': this.userAgent };
    if (UNSAFE.has(method)) {
      const csrf = await this.send(base, 'GET', '/api/auth/csrf');
      const token = (csrf.body as { token?: unknown } | undefined)?.token;
      if (csrf.status !== 200 || typeof token !== 'string') return { ...csrf, stage: 'csrf' };
      headers['x-csrf-token'] = token;
    }
    if (json !== undefined) headers['content-type'] = 'application/json';
    const cookie = this.cookieHeader();
    if (cookie !== '') headers.cookie = cookie;
    const at = performance.now();
    traffic.requests++;
    let response: Response;
    let text: string;
    try {
      response = await fetch(base + path, {
        method,
        headers,
        body: json === undefined ? undefined : JSON.stringify(json),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
      text = await response.text();
    } catch (error) {
      // No answer in time (or a reset): status 0, which no expectation accepts.
      return { status: 0, body: String(error), at, ms: performance.now() - at, stage: 'request' };
    }
    const ms = performance.now() - at;
    this.keep(response.headers.getSetCookie());
    let body: unknown;
    try {
      body = text === '' ? undefined : JSON.parse(text);
    } catch {
      body = text;
    }
    const retryAfter = response.headers.get('retry-after') ?? undefined;
    return { status: response.status, body, at, ms, stage: 'request', ...(retryAfter === undefined ? {} : { retryAfter }) };
  }

  private cookieHeader(): string {
    const pairs = [...this.others].map(([name, value]) => `${name}=${value}`);
    if (this.session !== undefined) pairs.push(this.session);
    return pairs.join('; ');
  }

  private keep(lines: readonly string[]): void {
    for (const line of lines) {
      const pair = line.split(';', 1)[0] ?? '';
      const at = pair.indexOf('=');
      if (at <= 0) continue;
      const name = pair.slice(0, at);
      const value = pair.slice(at + 1);
      const cleared = value === '' || /;\s*max-age=0/i.test(line) || /;\s*expires=thu, 01 jan 1970/i.test(line);
      if (name === SESSION_COOKIE) {
        if (!cleared) this.session = pair;
      } else if (cleared) {
        this.others.delete(name);
      } else {
        this.others.set(name, value);
      }
    }
  }
}
