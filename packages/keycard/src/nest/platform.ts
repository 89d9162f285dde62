import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeader, ServerResponse } from 'node:http';
import type { AppCookies, CookieJar } from '../core/cookie-jar.js';
import { KeycardError } from '../core/errors.js';
import type { Session } from '../core/session.js';
import type { RequestInfo, ResponseHeaders } from '../core/session-cookie.js';

/*
 * The one home of what keycard/nest knows about Express and Fastify requests
 * and replies: their shapes (only the members used, so that no framework type
 * leaks into keycard's typings), where keycard keeps its per-request state,
 * whether a request came over HTTPS, and how headers reach a response. The
 * binding, CSRF, application cookies, the passport view and the transports'
 * context helpers ask here instead of reading `req`/`reply` themselves.
 */

// ——— shapes ———

/** Anything a handler, guard or gateway may hold: Express `req`, Fastify `request`, or a raw `IncomingMessage`. */
export type RequestLike = IncomingMessage | { readonly raw: IncomingMessage };

/** Anything keycard can write headers to: Express `res`, a raw `ServerResponse`, or a Fastify `reply`. */
export type ResponseLike = ServerResponse | FastifyReplyShape;

/** An Express request (an `IncomingMessage` with Express's getters). */
export interface ExpressRequestShape extends IncomingMessage {
  /** Trust-proxy aware (X-Forwarded-Proto when `trust proxy` trusts the peer). */
  readonly secure?: boolean;
  /** Trust-proxy aware (X-Forwarded-For walked by proxy-addr). */
  readonly ip?: string | undefined;
  /** Trust-proxy aware (X-Forwarded-Host), with the port. Express 5. */
  readonly host?: string;
  readonly body?: unknown;
  /** Express links each request to its response. */
  readonly res?: ServerResponse;
}

export interface ExpressAppShape {
  use(handler: (req: ExpressRequestShape, res: ServerResponse, next: (error?: unknown) => void) => void): unknown;
  /** The prototype of this application's responses (Express gives each app its own). */
  readonly response: object;
}

/** Nest's ExpressAdapter: the three calls through which Nest's router sends a handler's answer. */
export interface ExpressAdapterShape {
  getInstance(): ExpressAppShape;
  reply(response: unknown, body: unknown, statusCode?: number): unknown;
  redirect(response: unknown, statusCode: number, url: string): unknown;
  render(response: unknown, view: string, options: unknown): unknown;
}

/** A Fastify request. */
export interface FastifyRequestShape {
  readonly raw: IncomingMessage;
  readonly headers: IncomingHttpHeaders;
  readonly method: string;
  /** `http` or `https`, trust-proxy aware like Express's. */
  readonly protocol: string | undefined;
  readonly host: string;
  readonly ip: string;
  readonly body?: unknown;
}

/** A Fastify reply. */
export interface FastifyReplyShape {
  readonly raw: ServerResponse;
  getHeader(name: string): OutgoingHttpHeader | undefined;
  removeHeader(name: string): unknown;
  header(name: string, value: string): unknown;
  code(status: number): unknown;
}

type FastifyDone = (error: unknown, payload?: unknown) => void;

export interface FastifyShape {
  addHook(name: 'onRequest', hook: (request: FastifyRequestShape, reply: FastifyReplyShape) => Promise<void>): unknown;
  addHook(name: 'onRequest', hook: (request: FastifyRequestShape, reply: FastifyReplyShape, done: () => void) => void): unknown;
  addHook(
    name: 'onSend',
    hook: (request: FastifyRequestShape, reply: FastifyReplyShape, payload: unknown, done: FastifyDone) => void,
  ): unknown;
}

/** A Fastify request (it holds the raw `IncomingMessage` as `raw`); anything else is an `IncomingMessage`. */
export function isFastifyRequest(request: RequestLike): request is { readonly raw: IncomingMessage } {
  return 'raw' in request;
}

export function isFastifyReply(response: ResponseLike): response is FastifyReplyShape {
  return 'raw' in response && typeof (response as FastifyReplyShape).header === 'function';
}

// ——— keycard's per-request state ———

/**
 * Where keycard keeps a request's state: one object under one symbol on the
 * raw `IncomingMessage` (Express's `req` is one; Fastify's is `request.raw`).
 * Not `req.session`, which stays free for an express-session-compatible view
 * (passport). One object, not a symbol per field: Express gives every request
 * a hidden class of its own (`Object.setPrototypeOf` in `app.handle`), so each
 * property added to `req` builds a new V8 map, about 1.7 µs here; five of them
 * were a third of keycard's CPU per cached read on Express (BENCHMARKS.md).
 */
const STATE = Symbol.for('keycard.request');

/**
 * @internal Keycard's per-request state. Every field is set by the unit named
 * beside it; none is optional, so that `emptyState` must make each one an own
 * property.
 */
export interface RequestState {
  /** The binding, once the session is loaded. */
  session: Session | undefined;
  /** The binding: the application-cookie settings the jar is made from. */
  appCookies: AppCookies | undefined;
  /** Fastify: the request's reply (a Fastify request has no link to it otherwise), recorded before the load. */
  reply: FastifyReplyShape | undefined;
  /** `cookieJarOf`, on first use. */
  jar: CookieJar | undefined;
  /** Express: who commits the request's session (the binding), and where that commit stands. */
  committer: ExpressCommitter | undefined;
  commitState: Promise<void> | FailedCommit | undefined;
  /** CSRF (nest/csrf): the application's CsrfService, and the pre-session nonce this request has or was given. */
  csrfService: object | undefined;
  csrfNonce: string | undefined;
}

interface Carrier {
  [STATE]?: RequestState;
}

/** The raw `IncomingMessage` under any request shape: where keycard's per-request state lives. */
export function rawRequestOf(request: RequestLike): IncomingMessage {
  return isFastifyRequest(request) ? request.raw : request;
}

/** @internal The request's state, made on first use (every field starts unset). */
export function requestStateOf(request: RequestLike): RequestState {
  const carrier = rawRequestOf(request) as Carrier;
  return carrier[STATE] ?? (carrier[STATE] = emptyState());
}

/**
 * Every field an own property from the start: one hidden class for all
 * requests, and nothing read through `Object.prototype` (a polluted
 * `Object.prototype.session` elsewhere in the app must not become a session).
 */
function emptyState(): RequestState {
  return {
    session: undefined,
    appCookies: undefined,
    reply: undefined,
    jar: undefined,
    committer: undefined,
    commitState: undefined,
    csrfService: undefined,
    csrfNonce: undefined,
  };
}

/** @internal The request's state if keycard made one, without making it (a read that must not add a property). */
export function findRequestState(request: RequestLike): RequestState | undefined {
  return (rawRequestOf(request) as Carrier)[STATE];
}

/** @internal Called by the binding once per request, before any guard. */
export function attachRequestState(
  raw: IncomingMessage,
  loaded: {
    readonly session: Session;
    readonly appCookies: AppCookies | undefined;
    readonly committer?: ExpressCommitter;
  },
): void {
  const state = requestStateOf(raw);
  state.session = loaded.session;
  state.appCookies = loaded.appCookies;
  if (loaded.committer !== undefined) state.committer = loaded.committer;
}

/** @internal Records the Fastify reply before the session is loaded (a load can already set headers). */
export function attachReply(raw: IncomingMessage, reply: FastifyReplyShape): void {
  requestStateOf(raw).reply = reply;
}

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

/** The request's keycard Session, or undefined when keycard did not load one (not an HTTP request keycard saw). */
export function findSession(request: RequestLike): Session | undefined {
  return findRequestState(request)?.session;
}

/**
 * The request's keycard Session, on Express requests, Fastify requests and raw
 * `IncomingMessage`s alike. Throws `SessionNotLoadedError` when keycard never
 * saw the request.
 */
export function sessionOf(request: RequestLike): Session {
  const session = findRequestState(request)?.session;
  if (session === undefined) throw new SessionNotLoadedError();
  return session;
}

/** @internal The request's application-cookie jar, made by `make` on first use. */
export function cookieJarOf(request: RequestLike, make: (cookies: AppCookies) => CookieJar): CookieJar {
  const state = findRequestState(request);
  if (state?.jar !== undefined) return state.jar;
  const cookies = state?.appCookies;
  if (state === undefined || cookies === undefined) throw new SessionNotLoadedError();
  const jar = make(cookies);
  state.jar = jar;
  return jar;
}

// ——— facts about the request ———

/**
 * Whether the request came over HTTPS, as the platform's trust-proxy setting
 * sees it (Express `req.secure`, Fastify `request.protocol`); a raw
 * `IncomingMessage` can only tell from its socket. The one copy of the rule:
 * per request it is read once, when the session is loaded, and carried by
 * the session (`session.secure`); see `requestSecure`.
 */
export function isHttps(request: RequestLike): boolean {
  if (isFastifyRequest(request)) return (request as FastifyRequestShape).protocol === 'https';
  const secure = (request as ExpressRequestShape).secure;
  if (typeof secure === 'boolean') return secure;
  return (request.socket as { encrypted?: boolean } | null)?.encrypted === true;
}

/** Whether the request came over HTTPS: its session's fact (read once, at load), else `isHttps`. */
export function requestSecure(request: RequestLike): boolean {
  return findSession(request)?.secure ?? isHttps(request);
}

export function methodOf(request: RequestLike): string {
  return isFastifyRequest(request) ? (request as FastifyRequestShape).method : (request.method ?? 'GET');
}

export function headersOf(request: RequestLike): IncomingHttpHeaders {
  return rawRequestOf(request).headers;
}

/** Host with port, from Host or (behind a trusted proxy) X-Forwarded-Host. */
export function hostOf(request: RequestLike): string | undefined {
  if (isFastifyRequest(request)) return (request as FastifyRequestShape).host;
  const host = (request as ExpressRequestShape).host;
  return typeof host === 'string' ? host : request.headers.host;
}

/** The parsed body (JSON or urlencoded), when there is one. */
export function bodyOf(request: RequestLike): unknown {
  return (request as { readonly body?: unknown }).body;
}

/**
 * What the core reads off an Express request. Getters, so that `req.ip`
 * (proxy-addr walking X-Forwarded-For under `trust proxy`) and the user agent
 * are only computed when a session records its device.
 */
class ExpressRequestInfo implements RequestInfo {
  constructor(private readonly req: ExpressRequestShape) {}
  get cookieHeader(): string | undefined {
    return this.req.headers.cookie;
  }
  get authorization(): string | undefined {
    return this.req.headers.authorization;
  }
  get secure(): boolean {
    return isHttps(this.req);
  }
  get userAgent(): string | undefined {
    return this.req.headers['user-agent'];
  }
  get ip(): string | undefined {
    return this.req.ip;
  }
  get fetchSite(): string | undefined {
    return headerValue(this.req.headers['sec-fetch-site']);
  }
}

/** The same for Fastify, whose `request.ip` also applies its trust-proxy setting. */
class FastifyRequestInfo implements RequestInfo {
  constructor(private readonly request: FastifyRequestShape) {}
  get cookieHeader(): string | undefined {
    return this.request.raw.headers.cookie;
  }
  get authorization(): string | undefined {
    return this.request.raw.headers.authorization;
  }
  get secure(): boolean {
    return isHttps(this.request);
  }
  get userAgent(): string | undefined {
    return this.request.raw.headers['user-agent'];
  }
  get ip(): string | undefined {
    return this.request.ip;
  }
  get fetchSite(): string | undefined {
    return headerValue(this.request.raw.headers['sec-fetch-site']);
  }
}

/** A header Node may give as a list: the first value. */
function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** What the core's `SessionManager.load` reads off a request. */
export function requestInfoOf(request: ExpressRequestShape | FastifyRequestShape): RequestInfo {
  return 'raw' in request ? new FastifyRequestInfo(request) : new ExpressRequestInfo(request);
}

// ——— the response ———

/** The response of a request keycard loaded: Express's `res`, or the Fastify reply recorded by keycard's hook. */
export function responseOf(request: RequestLike): ResponseLike | undefined {
  return findRequestState(request)?.reply ?? (isFastifyRequest(request) ? undefined : (request as ExpressRequestShape).res);
}

export function rawResponseOf(response: ResponseLike): ServerResponse {
  return isFastifyReply(response) ? response.raw : response;
}

/** Whether the response's headers are already on the wire (anything set now would be lost). */
export function headersSent(response: ResponseLike): boolean {
  return rawResponseOf(response).headersSent;
}

/** Sets one header (not Set-Cookie: see `putSetCookie`). */
export function setHeader(response: ResponseLike, name: string, value: string): void {
  if (isFastifyReply(response)) response.header(name, value);
  else response.setHeader(name, value);
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
 * Adds one Set-Cookie to the response, replacing an earlier one for the same
 * cookie name and keeping the others (cookies the application set survive).
 */
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

/**
 * Copies a commit's headers onto a response: Set-Cookie merged through
 * `putSetCookie`; the others (Cache-Control, Clear-Site-Data) are keycard's
 * to decide and replace what is there.
 */
export function applyHeaders(response: ResponseLike, headers: ResponseHeaders): void {
  for (const [name, value] of headers) {
    if (name === 'Set-Cookie') putSetCookie(response, value);
    else setHeader(response, name, value);
  }
}

/** What the Express hooks need from the binding. */
export interface ExpressCommitter {
  /** Stores the session and puts the commit's headers on the response; rejects when the store could not. */
  store(request: IncomingMessage, response: ServerResponse): Promise<void>;
  /** The answer to a failed commit that no exception filter will see. */
  refusal(error: unknown): Refusal;
}

/** A status, headers and a JSON body. */
export interface Refusal {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: unknown;
}

/** A commit that failed: its error is reported once (`delivered` once Nest's exception layer has it). */
export interface FailedCommit {
  readonly failed: unknown;
  delivered: boolean;
}
