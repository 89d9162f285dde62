import type { IncomingMessage, OutgoingHttpHeader, ServerResponse } from 'node:http';
import { Logger } from '@nestjs/common';
import { KeycardError } from '../core/errors.js';
import type { SessionManager } from '../core/manager.js';
import type { RequestInfo, ResponseHeaders } from '../core/session-cookie.js';
import type { Session } from '../core/session.js';
import type { AppCookies, CookieJar } from '../core/cookie-jar.js';
import type { ExpressSessionMigration } from '../connect/express-session-migration.js';
import { JarFlashCookie } from './flash-cookie.js';
import { toHttpException } from './errors.js';

/**
 * Where a request's Session lives: a symbol on the raw `IncomingMessage`
 * (Express's `req` is one; Fastify's is `request.raw`). Not `req.session`,
 * which stays free for an express-session-compatible view (passport).
 */
const SESSION = Symbol.for('keycard.session');
/** The request's response (Fastify's reply is not reachable from its request otherwise) and its app-cookie jar. */
const REPLY = Symbol.for('keycard.reply');
const JAR = Symbol.for('keycard.cookies');
const APP_COOKIES = Symbol.for('keycard.app-cookies');

interface Carrier {
  [SESSION]?: Session;
  [REPLY]?: FastifyReplyLike;
  [JAR]?: CookieJar;
  [APP_COOKIES]?: AppCookies;
}

/** Anything a handler, guard or gateway may hold: Express `req`, Fastify `request`, or a raw `IncomingMessage`. */
export type RequestLike = IncomingMessage | { readonly raw: IncomingMessage };

/** Anything `saveSession` can write headers to: Express `res`, a raw `ServerResponse`, or a Fastify `reply`. */
export type ResponseLike = ServerResponse | FastifyReplyLike;

/** A request that reached a handler without passing through keycard's request hook: a wiring mistake. */
export class SessionNotLoadedError extends KeycardError {
  constructor() {
    super(
      'KEYCARD_NOT_LOADED',
      'keycard: no session on this request. Import SessionModule.forRoot() in the application module; ' +
        'on Fastify, Nest middleware runs before the session is loaded (use a guard or interceptor instead).',
    );
  }
}

function carrierOf(request: RequestLike): Carrier & IncomingMessage {
  return ('raw' in request ? request.raw : request) as Carrier & IncomingMessage;
}

/** The request's keycard Session, or undefined when keycard did not load one (not an HTTP request keycard saw). */
export function findSession(request: RequestLike): Session | undefined {
  return carrierOf(request)[SESSION];
}

/**
 * The request's keycard Session, on Express requests, Fastify requests and raw
 * `IncomingMessage`s alike. Throws `SessionNotLoadedError` when keycard never
 * saw the request.
 */
export function sessionOf(request: RequestLike): Session {
  const session = carrierOf(request)[SESSION];
  if (session === undefined) throw new SessionNotLoadedError();
  return session;
}

// ——— the two platforms: only the shapes used here, so no framework types leak into keycard's typings ———

interface ExpressRequestLike extends IncomingMessage {
  readonly secure: boolean;
  readonly ip?: string | undefined;
}

interface ExpressAppLike {
  use(handler: (req: ExpressRequestLike, res: ServerResponse, next: (error?: unknown) => void) => void): unknown;
}

interface FastifyRequestLike {
  readonly raw: IncomingMessage;
  readonly protocol: string | undefined;
  readonly ip: string;
}

interface FastifyReplyLike {
  readonly raw: ServerResponse;
  getHeader(name: string): OutgoingHttpHeader | undefined;
  removeHeader(name: string): unknown;
  header(name: string, value: string): unknown;
  code(status: number): unknown;
}

interface FastifyLike {
  addHook(name: 'onRequest', hook: (request: FastifyRequestLike, reply: FastifyReplyLike) => Promise<void>): unknown;
  addHook(
    name: 'onSend',
    hook: (
      request: FastifyRequestLike,
      reply: FastifyReplyLike,
      payload: unknown,
      done: (error: unknown, payload?: unknown) => void,
    ) => void,
  ): unknown;
}

function isFastifyReply(response: ResponseLike): response is FastifyReplyLike {
  return 'raw' in response && typeof (response as FastifyReplyLike).header === 'function';
}

/** The name of the cookie a Set-Cookie value sets. */
function cookieNameOf(setCookie: string): string {
  return setCookie.slice(0, setCookie.indexOf('='));
}

/** The Set-Cookie list without an earlier value for `name` (a second commit in one request replaces the first). */
function withoutCookie(previous: OutgoingHttpHeader | undefined, name: string): string[] {
  if (previous === undefined) return [];
  const list = Array.isArray(previous) ? previous : [String(previous)];
  const prefix = `${name}=`;
  return list.filter((value) => !value.startsWith(prefix));
}

/**
 * Copies a commit's headers onto a response. Set-Cookie is merged, never
 * overwritten, so cookies the application set itself survive; the others
 * (Cache-Control, Clear-Site-Data) are ours to decide.
 */
function applyHeaders(response: ResponseLike, headers: ResponseHeaders): void {
  for (const [name, value] of headers) {
    if (name === 'Set-Cookie') putSetCookie(response, value);
    else if (isFastifyReply(response)) response.header(name, value);
    else response.setHeader(name, value);
  }
}

/** Adds one Set-Cookie to the response, replacing an earlier one for the same cookie name and keeping the others. */
export function putSetCookie(response: ResponseLike, setCookie: string): void {
  const name = cookieNameOf(setCookie);
  if (isFastifyReply(response)) {
    const others = withoutCookie(response.getHeader('set-cookie'), name);
    response.removeHeader('set-cookie');
    for (const other of others) response.header('set-cookie', other);
    response.header('set-cookie', setCookie);
    return;
  }
  const list = withoutCookie(response.getHeader('set-cookie'), name);
  list.push(setCookie);
  response.setHeader('Set-Cookie', list);
}

/** A Set-Cookie written after the response went out would be lost without a trace. */
export class ResponseSentError extends KeycardError {
  constructor() {
    super(
      'KEYCARD_RESPONSE_SENT',
      'keycard: a cookie was set after the response was sent (or with no response to send it on); set cookies before sending',
    );
  }
}

/** The response of a request keycard loaded: Express's `res`, or the Fastify reply recorded by keycard's hook. */
function responseFor(request: RequestLike): ResponseLike | undefined {
  const carrier = carrierOf(request);
  return carrier[REPLY] ?? ('raw' in request ? undefined : (request as { res?: ServerResponse }).res);
}

/**
 * The request's application cookies (`CookieJar`), created on first use.
 * Writes go straight onto the request's response, merged with keycard's own
 * Set-Cookie headers. Throws `SessionNotLoadedError` when keycard never saw
 * the request.
 */
export function cookiesOf(request: RequestLike): CookieJar {
  const carrier = carrierOf(request);
  const existing = carrier[JAR];
  if (existing !== undefined) return existing;
  const cookies = carrier[APP_COOKIES];
  if (cookies === undefined) throw new SessionNotLoadedError();
  const jar = cookies.jar(
    { cookieHeader: carrier.headers.cookie, requestSecure: isSecure(request) },
    (_name, setCookie) => {
      const response = responseFor(request);
      if (response === undefined || rawResponse(response).headersSent) throw new ResponseSentError();
      putSetCookie(response, setCookie);
    },
  );
  carrier[JAR] = jar;
  return jar;
}

/**
 * What the core reads off an Express request. Getters, so that `req.ip`
 * (proxy-addr walking X-Forwarded-For under `trust proxy`) and the user agent
 * are only computed when a session records its device.
 */
class ExpressRequestInfo implements RequestInfo {
  constructor(private readonly req: ExpressRequestLike) {}
  get cookieHeader(): string | undefined {
    return this.req.headers.cookie;
  }
  get authorization(): string | undefined {
    return this.req.headers.authorization;
  }
  get secure(): boolean {
    return this.req.secure;
  }
  get userAgent(): string | undefined {
    return this.req.headers['user-agent'];
  }
  get ip(): string | undefined {
    return this.req.ip;
  }
}

/** The same for Fastify, whose `request.ip` also applies its trust-proxy setting. */
class FastifyRequestInfo implements RequestInfo {
  constructor(private readonly request: FastifyRequestLike) {}
  get cookieHeader(): string | undefined {
    return this.request.raw.headers.cookie;
  }
  get authorization(): string | undefined {
    return this.request.raw.headers.authorization;
  }
  get secure(): boolean {
    return this.request.protocol === 'https';
  }
  get userAgent(): string | undefined {
    return this.request.raw.headers['user-agent'];
  }
  get ip(): string | undefined {
    return this.request.ip;
  }
}

function rawResponse(response: ResponseLike): ServerResponse {
  return isFastifyReply(response) ? response.raw : response;
}

/**
 * Per-platform glue between a SessionManager and an HTTP server. One instance
 * per application; every per-request function is created once, here.
 */
export class SessionBinding {
  private readonly logger = new Logger('keycard');
  private warnedLateSend = false;
  /** Which platform's hooks are installed; the commit interceptor only acts for Express. */
  platform: 'express' | 'fastify' | null = null;

  constructor(
    readonly manager: SessionManager,
    /** The application-cookie settings every request's `CookieJar` is made from. */
    private readonly appCookies?: AppCookies,
    /** Signs express-session users in from their old cookie (`migrateFromExpressSession`). */
    private readonly migration?: ExpressSessionMigration,
  ) {}

  /** Runs the express-session migration for a request that carries the old cookie; adds its headers to the response. */
  private async migrate(info: RequestInfo, session: Session, response: ResponseLike): Promise<void> {
    if (this.migration === undefined || !this.migration.presented(info)) return;
    const result = await this.migration.migrate(info, session);
    for (const [, value] of result.headers) putSetCookie(response, value);
  }

  /**
   * Express: one middleware, mounted before every Nest middleware and route,
   * loads the session. The commit happens in `SessionCommitInterceptor`.
   */
  bindExpress(app: ExpressAppLike): void {
    const manager = this.manager;
    const appCookies = this.appCookies;
    const migrate = (info: RequestInfo, session: Session, response: ResponseLike): Promise<void> => this.migrate(info, session, response);
    async function load(req: ExpressRequestLike, res: ServerResponse): Promise<void> {
      const info = new ExpressRequestInfo(req);
      const session = await manager.load(info);
      (req as Carrier)[SESSION] = session;
      session.useFlashCookie(new JarFlashCookie(() => cookiesOf(req)));
      (req as Carrier)[APP_COOKIES] = appCookies;
      await migrate(info, session, res);
      // Loading may already have rotated the id (roles refreshed elsewhere) or re-signed
      // the cookie: send that now, so that a guard refusing the request still delivers it.
      if (session.hasCookieToSend()) applyHeaders(res, await manager.commit(session));
    }
    // `next` serves as both callbacks: no closure per request.
    app.use(function keycardSession(req, res, next) {
      load(req, res).then(next, next);
    });
    this.platform = 'express';
  }

  /**
   * Fastify: `onRequest` loads the session, `onSend` commits it. `onSend` runs
   * for every reply Fastify sends (returned values, exceptions, redirects,
   * `reply.send()` under `@Res()`), before the headers are written.
   */
  bindFastify(instance: FastifyLike): void {
    const manager = this.manager;
    const appCookies = this.appCookies;
    const migrate = (info: RequestInfo, session: Session, response: ResponseLike): Promise<void> => this.migrate(info, session, response);
    instance.addHook('onRequest', async function keycardLoad(request, reply) {
      const carrier = request.raw as Carrier;
      carrier[REPLY] = reply;
      carrier[APP_COOKIES] = appCookies;
      const info = new FastifyRequestInfo(request);
      const session = await manager.load(info);
      carrier[SESSION] = session;
      session.useFlashCookie(new JarFlashCookie(() => cookiesOf(request)));
      await migrate(info, session, reply);
    });
    type Done = (error: unknown, payload?: unknown) => void;
    async function commit(request: FastifyRequestLike, reply: FastifyReplyLike, session: Session, payload: unknown, done: Done): Promise<void> {
      try {
        const headers = await manager.commit(session);
        if (headers.length > 0) applyHeaders(reply, headers);
      } catch (error) {
        if (!(error instanceof KeycardError)) return done(error);
        // The handler's answer would claim a write that did not happen: answer with the error instead.
        const exception = toHttpException(error);
        reply.code(exception.getStatus());
        reply.removeHeader('location');
        reply.header('content-type', 'application/json; charset=utf-8');
        for (const [name, value] of Object.entries(exception.headers)) reply.header(name, value);
        return done(null, JSON.stringify(exception.getResponse()));
      }
      done(null, payload);
    }
    instance.addHook('onSend', function keycardCommit(request, reply, payload, done) {
      const session = (request.raw as Carrier)[SESSION];
      // Reads that wrote nothing (most traffic, signed in or not) finish here, without a promise.
      if (session === undefined || !session.needsCommit()) return done(null, payload);
      void commit(request, reply, session, payload, done);
    });
    this.platform = 'fastify';
  }

  /**
   * Stores the request's session and copies the commit's headers onto the
   * response. The Express interceptor calls it; handlers that send the
   * response themselves (`@Res()`) call it through `SessionService.commit`.
   */
  async commit(request: RequestLike, response: ResponseLike): Promise<void> {
    const session = carrierOf(request)[SESSION];
    if (session === undefined || !session.needsCommit()) return;
    const headers = await this.manager.commit(session);
    if (headers.length === 0) return;
    if (rawResponse(response).headersSent) {
      this.warnLateSend();
      return;
    }
    applyHeaders(response, headers);
  }

  /** Whether `commit` has anything to do for this request (false for a read that wrote nothing). */
  needsCommit(request: RequestLike): boolean {
    return carrierOf(request)[SESSION]?.needsCommit() ?? false;
  }

  private warnLateSend(): void {
    if (this.warnedLateSend) return;
    this.warnedLateSend = true;
    this.logger.warn(
      'a response was sent before its session was saved, so its Set-Cookie was lost; ' +
        'handlers that send the response themselves (@Res()) must `await sessionService.commit(req, res)` first',
    );
  }
}

/** Whether the request came over HTTPS as the platform's trust-proxy setting sees it. */
function isSecure(request: RequestLike): boolean {
  if ('raw' in request) return (request as FastifyRequestLike).protocol === 'https';
  const secure = (request as Partial<ExpressRequestLike>).secure;
  if (typeof secure === 'boolean') return secure;
  // A raw IncomingMessage: only the socket can tell.
  return (request.socket as { encrypted?: boolean } | null)?.encrypted === true;
}
