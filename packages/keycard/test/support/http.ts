import 'reflect-metadata';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import type { INestApplication, ModuleMetadata, Type, DynamicModule } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ExpressAdapter } from '@nestjs/platform-express';
import { FastifyAdapter } from '@nestjs/platform-fastify';

/** The two HTTP platforms every e2e scenario runs on. */
export type Platform = 'express' | 'fastify';
export const PLATFORMS: readonly Platform[] = ['express', 'fastify'];

export interface StartOptions {
  /** Trust X-Forwarded-* from the (loopback) client: Express `trust proxy`, Fastify `trustProxy`. */
  readonly trustProxy?: boolean;
  /** Called after the app is created and before it listens (global pipes, `app.set`, ...). */
  readonly configure?: (app: INestApplication) => void | Promise<void>;
}

export interface RunningApp {
  readonly platform: Platform;
  /** `http://127.0.0.1:<port>`, no trailing slash. */
  readonly url: string;
  readonly app: INestApplication;
  /** A new client with an empty cookie jar. */
  client(): Client;
  close(): Promise<void>;
}

/**
 * Starts `root` on a real HTTP server on 127.0.0.1 and an ephemeral port.
 * `logger: false` with `abortOnError: false`, so that a bootstrap error is
 * thrown here instead of exiting the process silently; set KEYCARD_TEST_LOG=1
 * to see Nest's logs.
 */
export async function startApp(
  platform: Platform,
  root: Type<unknown> | DynamicModule | ModuleMetadata,
  options: StartOptions = {},
): Promise<RunningApp> {
  const adapter =
    platform === 'fastify' ? new FastifyAdapter({ trustProxy: options.trustProxy ?? false }) : new ExpressAdapter();
  if (platform === 'express' && options.trustProxy) adapter.getInstance().set('trust proxy', true);
  const app = await NestFactory.create(root, adapter, {
    logger: process.env['KEYCARD_TEST_LOG'] === '1' ? ['error', 'warn', 'log'] : false,
    abortOnError: false,
  });
  try {
    await options.configure?.(app);
    await app.listen(0, '127.0.0.1');
    const server = app.getHttpServer() as Server;
    // The test's fetch client and this server share one event loop. When a test blocks it for
    // longer than the keep-alive timeout (fast-check building its arbitraries on a loaded CI
    // machine), the client picks a pooled socket before the timers phase runs, and then the
    // server's expired keep-alive timer closes that socket under the new request: ECONNRESET.
    // No idle timeout here; `app.close()` still closes idle connections (Node >= 19).
    server.keepAliveTimeout = 0;
    const address = server.address() as AddressInfo;
    const url = `http://127.0.0.1:${address.port}`;
    return { platform, url, app, client: () => new Client(url), close: () => app.close() };
  } catch (error) {
    await app.close().catch(() => undefined);
    throw error;
  }
}

/** A parsed `Set-Cookie` header. */
export interface SetCookie {
  readonly name: string;
  readonly value: string;
  /** Attribute names lower-cased; flag attributes map to ''. */
  readonly attributes: ReadonlyMap<string, string>;
  readonly raw: string;
}

export function parseSetCookie(header: string): SetCookie {
  const [pair = '', ...parts] = header.split(';');
  const eq = pair.indexOf('=');
  const attributes = new Map<string, string>();
  for (const part of parts) {
    const at = part.indexOf('=');
    const key = (at === -1 ? part : part.slice(0, at)).trim().toLowerCase();
    attributes.set(key, at === -1 ? '' : part.slice(at + 1).trim());
  }
  return { name: pair.slice(0, eq).trim(), value: pair.slice(eq + 1).trim(), attributes, raw: header };
}

/** A finished response with its body read (JSON when it parses, else text). */
export interface HttpResult {
  readonly status: number;
  readonly headers: Headers;
  readonly setCookies: readonly SetCookie[];
  readonly body: unknown;
  readonly text: string;
}

export interface RequestOptions {
  readonly method?: string;
  readonly headers?: Readonly<Record<string, string>>;
  /** Sent as JSON. */
  readonly json?: unknown;
  /** Default true: send the jar's cookies. */
  readonly cookies?: boolean;
}

async function send(url: string, options: RequestOptions, cookieHeader: string | null): Promise<HttpResult> {
  const headers: Record<string, string> = { ...options.headers };
  if (cookieHeader) headers['cookie'] = cookieHeader;
  let body: string | undefined;
  if (options.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(options.json);
  }
  const response = await fetch(url, {
    method: options.method ?? (body === undefined ? 'GET' : 'POST'),
    headers,
    body,
    redirect: 'manual',
  });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = text.length > 0 ? JSON.parse(text) : undefined;
  } catch {
    // not JSON: keep the text
  }
  return {
    status: response.status,
    headers: response.headers,
    setCookies: response.headers.getSetCookie().map(parseSetCookie),
    body: parsed,
    text,
  };
}

/** One request without a jar; `headers.cookie` is sent exactly as given. */
export function request(url: string, options: RequestOptions = {}): Promise<HttpResult> {
  return send(url, options, null);
}

/**
 * A fetch client with a manual cookie jar. Unlike supertest's agent (and a
 * browser on a non-localhost http origin) it keeps Secure and `__Host-`
 * cookies over plain http, so production cookie settings can be tested.
 * Path and domain are ignored: every test cookie has Path=/ and no Domain.
 */
export class Client {
  constructor(
    readonly baseUrl: string,
    private readonly jar = new Map<string, string>(),
  ) {}

  /** This client (the same cookie jar) talking to another server: a second instance, a restarted app. */
  at(baseUrl: string): Client {
    return new Client(baseUrl, this.jar);
  }

  async fetch(path: string, options: RequestOptions = {}): Promise<HttpResult> {
    const result = await send(`${this.baseUrl}${path}`, options, options.cookies === false ? null : this.cookieHeader());
    for (const cookie of result.setCookies) {
      const maxAge = cookie.attributes.get('max-age');
      if (cookie.value === '' || (maxAge !== undefined && Number(maxAge) <= 0)) this.jar.delete(cookie.name);
      else this.jar.set(cookie.name, cookie.value);
    }
    return result;
  }

  get(path: string, headers?: Record<string, string>): Promise<HttpResult> {
    return this.fetch(path, { headers });
  }

  post(path: string, json?: unknown, headers?: Record<string, string>): Promise<HttpResult> {
    return this.fetch(path, { method: 'POST', json, headers });
  }

  cookie(name: string): string | undefined {
    return this.jar.get(name);
  }

  setCookie(name: string, value: string): void {
    this.jar.set(name, value);
  }

  clearCookies(): void {
    this.jar.clear();
  }

  /** The `Cookie` header this client sends now, or null when the jar is empty. */
  cookieHeader(): string | null {
    if (this.jar.size === 0) return null;
    return [...this.jar].map(([name, value]) => `${name}=${value}`).join('; ');
  }

  /** A client that starts with a copy of this one's cookies (an attacker who stole them, a second tab). */
  fork(): Client {
    const copy = new Client(this.baseUrl);
    for (const [name, value] of this.jar) copy.setCookie(name, value);
    return copy;
  }
}

// ——— assertions ———

export interface CookieExpectation {
  readonly httpOnly?: boolean;
  readonly secure?: boolean;
  readonly sameSite?: 'Lax' | 'Strict' | 'None';
  readonly path?: string;
  /** true: has Max-Age (persistent); false: a browser-session cookie. */
  readonly persistent?: boolean;
  /** An exact Max-Age in seconds. */
  readonly maxAge?: number;
  /** true: the header deletes the cookie (empty value, Max-Age=0). */
  readonly cleared?: boolean;
}

/** Asserts the response sets cookie `name` exactly once, with the given attributes; returns it. */
export function expectCookie(result: HttpResult, name: string, expected: CookieExpectation = {}): SetCookie {
  const matches = result.setCookies.filter((cookie) => cookie.name === name);
  assert.equal(
    matches.length,
    1,
    `expected one Set-Cookie for ${name}, got ${JSON.stringify(result.setCookies.map((c) => c.raw))}`,
  );
  const cookie = matches[0] as SetCookie;
  const has = (attribute: string): boolean => cookie.attributes.has(attribute);
  if (expected.httpOnly !== undefined) assert.equal(has('httponly'), expected.httpOnly, `${name} HttpOnly in ${cookie.raw}`);
  if (expected.secure !== undefined) assert.equal(has('secure'), expected.secure, `${name} Secure in ${cookie.raw}`);
  if (expected.sameSite !== undefined) assert.equal(cookie.attributes.get('samesite'), expected.sameSite, `${name} SameSite in ${cookie.raw}`);
  if (expected.path !== undefined) assert.equal(cookie.attributes.get('path'), expected.path, `${name} Path in ${cookie.raw}`);
  if (expected.persistent !== undefined) assert.equal(has('max-age'), expected.persistent, `${name} Max-Age in ${cookie.raw}`);
  if (expected.maxAge !== undefined) assert.equal(Number(cookie.attributes.get('max-age')), expected.maxAge, `${name} Max-Age in ${cookie.raw}`);
  if (expected.cleared !== undefined) {
    const cleared = cookie.value === '' && cookie.attributes.get('max-age') === '0';
    assert.equal(cleared, expected.cleared, `${name} cleared in ${cookie.raw}`);
  }
  return cookie;
}

/** Asserts the response sets no cookie at all. */
export function expectNoSetCookie(result: HttpResult): void {
  assert.deepEqual(result.setCookies.map((cookie) => cookie.raw), [], 'expected no Set-Cookie');
}

/** Asserts the status, showing the body when it differs. */
export function expectStatus(result: HttpResult, status: number): void {
  assert.equal(result.status, status, `expected ${status}, got ${result.status}: ${result.text.slice(0, 500)}`);
}

/** Asserts a response header's exact value (null: absent). */
export function expectHeader(result: HttpResult, name: string, value: string | null): void {
  assert.equal(result.headers.get(name), value, `header ${name}`);
}

/** Asserts a keycard error response: status, stable code, and no stack or token in the body. */
export function expectKeycardError(result: HttpResult, status: number, code: string): void {
  expectStatus(result, status);
  const body = result.body as { statusCode?: unknown; code?: unknown; message?: unknown } | undefined;
  assert.equal(body?.statusCode, status, `statusCode in ${result.text}`);
  assert.equal(body?.code, code, `code in ${result.text}`);
  assert.equal(typeof body?.message, 'string', `message in ${result.text}`);
  assert.doesNotMatch(result.text, /\bat .+:\d+:\d+/, 'no stack trace in the body');
}
