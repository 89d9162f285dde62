import { request, type HttpResult, type RequestOptions } from './http.js';

/**
 * One browser in front of several instances of the same application (a load
 * balancer sends each request to whichever instance it likes): one cookie
 * jar, any base URL per request. Same jar rules as `Client` in http.ts.
 */
export class Browser {
  private readonly jar = new Map<string, string>();

  async fetch(baseUrl: string, path: string, options: RequestOptions = {}): Promise<HttpResult> {
    const headers: Record<string, string> = { ...options.headers };
    const cookie = this.cookieHeader();
    if (cookie !== null && options.cookies !== false) headers['cookie'] = cookie;
    const result = await request(`${baseUrl}${path}`, { ...options, headers });
    for (const set of result.setCookies) {
      const maxAge = set.attributes.get('max-age');
      if (set.value === '' || (maxAge !== undefined && Number(maxAge) <= 0)) this.jar.delete(set.name);
      else this.jar.set(set.name, set.value);
    }
    return result;
  }

  get(baseUrl: string, path: string): Promise<HttpResult> {
    return this.fetch(baseUrl, path);
  }

  post(baseUrl: string, path: string, json?: unknown): Promise<HttpResult> {
    return this.fetch(baseUrl, path, { method: 'POST', json });
  }

  cookie(name: string): string | undefined {
    return this.jar.get(name);
  }

  /** The `Cookie` header this browser sends now, or null when the jar is empty. */
  cookieHeader(): string | null {
    if (this.jar.size === 0) return null;
    return [...this.jar].map(([name, value]) => `${name}=${value}`).join('; ');
  }
}
