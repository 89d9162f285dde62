import type { IncomingMessage } from 'node:http';
import { Inject, Injectable } from '@nestjs/common';
import { CsrfTokens, graphqlCsrfFailure, isCrossSite, requestOrigin, type CsrfFailure } from '../../core/csrf.js';
import { readCookie, serializeCookie } from '../../core/cookie.js';
import { KeycardError } from '../../core/errors.js';
import { SessionManager } from '../../core/manager.js';
import type { Session } from '../../core/session.js';
import {
  bodyOf,
  findRequestState,
  findSession,
  headersOf,
  headersSent,
  hostOf,
  methodOf,
  putSetCookie,
  requestSecure,
  requestStateOf,
  responseOf,
  sessionOf,
  setHeader,
  type RequestLike,
} from '../platform.js';
import { RESOLVED_CSRF_OPTIONS, type ResolvedCsrfOptions } from './csrf.options.js';

/** Methods that must not change state (RFC 9110 §9.2.1); every other method is checked. */
const SAFE_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE']);

/** Where a submitted token is read from. Fixed names: the same everywhere keycard is used. */
export const CSRF_HEADER = 'x-csrf-token';
export const CSRF_FIELD = '_csrf';

/**
 * `tokenFor` needed to set the pre-session cookie but could not reach the
 * response (already sent, or not an HTTP request): a wiring mistake.
 */
export class CsrfResponseError extends KeycardError {
  constructor() {
    super(
      'KEYCARD_CSRF_NO_RESPONSE',
      'keycard: the CSRF token needs a cookie on this response, which is already sent or out of reach; ' +
        'call tokenFor(request) while handling an HTTP request, before sending the response',
    );
  }
}

/**
 * A CSRF token was asked for, or a request was to be checked, where there is
 * no CSRF protection: turned off with `csrf: false`, or no `SessionModule` at
 * all. A wiring mistake (500), whose message says which.
 */
export class CsrfNotConfiguredError extends KeycardError {
  constructor(reason: 'off' | 'absent') {
    super(
      'KEYCARD_CSRF_NOT_CONFIGURED',
      reason === 'off'
        ? 'keycard: CSRF protection is off (csrf: false in the SessionModule options), so there is no CSRF token to give ' +
            'and none to check. Remove csrf: false, or stop calling csrfTokenFor / CsrfService and using CsrfGuard.'
        : 'keycard: no CSRF protection on this request: SessionModule.forRoot() (which installs it) is not imported ' +
            'in the application module.',
    );
  }
}

/** @internal Called by CsrfModule for every request, before routing: the service `csrfTokenFor` finds. */
export function attachCsrfService(raw: IncomingMessage, service: CsrfService): void {
  requestStateOf(raw).csrfService = service;
}

/**
 * The CSRF token to put in a form (`<input type="hidden" name="_csrf">`) or
 * to answer `GET /csrf` with, from anywhere that holds the request: a
 * controller, an exception filter rendering an error page, a page helper.
 * Same as `CsrfService.tokenFor`.
 */
export function csrfTokenFor(request: RequestLike): string {
  const service = findRequestState(request)?.csrfService as CsrfService | undefined;
  // A session without the service: SessionModule is there, with csrf: false.
  if (service === undefined) throw new CsrfNotConfiguredError(findSession(request) === undefined ? 'absent' : 'off');
  return service.tokenFor(request);
}

function firstHeader(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** The token the request submitted: the header, else the `_csrf` field of a JSON or urlencoded body. */
function submittedToken(request: RequestLike): string | null {
  // A repeated header arrives joined with ", " and fails verification, as it should.
  const header = headersOf(request)[CSRF_HEADER];
  if (typeof header === 'string' && header.length > 0) return header;
  const body = bodyOf(request);
  if (typeof body === 'object' && body !== null && !Array.isArray(body) && Object.hasOwn(body, CSRF_FIELD)) {
    const field = (body as Record<string, unknown>)[CSRF_FIELD];
    if (typeof field === 'string' && field.length > 0) return field;
  }
  return null;
}

/**
 * Issues and checks CSRF tokens. A signed-in session gets tokens bound to it
 * (no storage: an HMAC of its public handle and user id, valid across
 * rotations of that session, not across sign-in); a request without a
 * signed-in session gets a signed double-submit token, backed by a host-only
 * cookie set on first use. Anonymous traffic still stores nothing.
 */
@Injectable()
export class CsrfService {
  private readonly tokens: CsrfTokens;
  private readonly resolved: ResolvedCsrfOptions | null;

  constructor(
    private readonly manager: SessionManager,
    @Inject(RESOLVED_CSRF_OPTIONS) resolved: ResolvedCsrfOptions | null,
  ) {
    this.tokens = new CsrfTokens(manager.options.signer, manager.options.random);
    this.resolved = resolved;
  }

  /** The options, or the refusal when CSRF protection is off (`csrf: false`): nothing here runs without them. */
  private enabled(): ResolvedCsrfOptions {
    if (this.resolved === null) throw new CsrfNotConfiguredError('off');
    return this.resolved;
  }

  /**
   * The token for this request's forms and scripts, masked afresh on every
   * call. Call it after any sign-in in the same request: signing in changes
   * the token. Without a signed-in session, sets the pre-session cookie on the
   * response when the request has none (at most once per request).
   */
  tokenFor(request: RequestLike): string {
    this.enabled();
    const session = findSession(request);
    // A store outage renders pages as signed out (their forms fail later, as any write would).
    const principal = session?.available ? session.principal : null;
    const handle = principal !== null ? session?.handle : null;
    if (principal !== null && handle) return this.tokens.forSession(handle, principal.id);

    // The nonce this request has or was just given, so that one request sets the cookie at most once.
    const state = requestStateOf(request);
    const secure = requestSecure(request);
    let nonce = state.csrfNonce ?? this.tokens.nonceOf(readCookie(headersOf(request).cookie, this.cookieName(secure)));
    if (nonce === null) {
      const cookie = this.tokens.newCookie();
      const response = responseOf(request);
      if (response === undefined || headersSent(response)) throw new CsrfResponseError();
      putSetCookie(response, this.serialize(secure, cookie.value));
      // The response carries a per-browser secret.
      setHeader(response, 'Cache-Control', 'no-store');
      nonce = cookie.nonce;
    }
    state.csrfNonce = nonce;
    return this.tokens.forNonce(nonce);
  }

  /**
   * Why the request fails the CSRF check, or null when it passes. Safe
   * methods and requests that present a bearer token (they carry no ambient
   * credential: the cookie is then ignored) always pass. Otherwise the Origin
   * and Sec-Fetch-Site rules apply, then the token must match the signed-in
   * session, or, without one, the pre-session cookie. Throws
   * `StoreUnavailableError` when the session cannot be read.
   */
  check(request: RequestLike): CsrfFailure | null {
    this.enabled();
    // Before the other facts: protocol and host are trust-proxy getters, not worth computing for a GET.
    if (SAFE_METHODS.has(methodOf(request))) return null;
    const session = sessionOf(request);
    if (isBearerAuthenticated(session)) return null;
    if (this.crossSite(request, session.secure)) return 'cross-site';
    const token = submittedToken(request);
    if (token === null) return 'missing';
    const principal = session.principal;
    if (principal !== null) {
      const handle = session.handle;
      return handle !== null && this.tokens.verifySession(token, handle, principal.id) ? null : 'invalid';
    }
    const nonce = this.tokens.nonceOf(readCookie(headersOf(request).cookie, this.cookieName(session.secure)));
    return nonce !== null && this.tokens.verifyNonce(token, nonce) ? null : 'invalid';
  }

  /**
   * The same check for a GraphQL operation over HTTP. Bearer requests pass.
   * Otherwise no operation runs from a body a cross-site form could send
   * (`text/plain`, urlencoded, multipart unless `graphqlMultipart`) and no
   * mutation from a GET; a mutation then needs what any unsafe request
   * needs (same-site Origin / Sec-Fetch-Site, the token). Queries are reads:
   * the content-type rule is all they need.
   */
  checkGraphql(request: RequestLike, operation: 'query' | 'mutation' | 'subscription' | undefined): CsrfFailure | null {
    const options = this.enabled();
    if (isBearerAuthenticated(sessionOf(request))) return null;
    const contentType = headersOf(request)['content-type'];
    const failure = graphqlCsrfFailure({ method: methodOf(request), contentType, operation }, options.graphqlMultipart);
    if (failure !== null || operation === 'query') return failure;
    return this.check(request);
  }

  /** The pre-session cookie's name for a request over HTTPS (or not). */

  /**
   * The Origin and Sec-Fetch-Site rules alone, for routes that need no token
   * (`@SkipCsrf('token')`: they take credentials in the body and set no
   * cookie) but must still not be driven from another site. Safe methods pass.
   */
  checkOrigin(request: RequestLike): CsrfFailure | null {
    this.enabled();
    if (SAFE_METHODS.has(methodOf(request))) return null;
    return this.crossSite(request, sessionOf(request).secure) ? 'cross-site' : null;
  }

  private crossSite(request: RequestLike, secure: boolean): boolean {
    const headers = headersOf(request);
    return isCrossSite(
      {
        origin: firstHeader(headers.origin),
        fetchSite: firstHeader(headers['sec-fetch-site']),
        self: requestOrigin(secure ? 'https' : 'http', hostOf(request)),
      },
      this.enabled(),
    );
  }
  private cookieName(requestSecure: boolean): string {
    return this.enabled().cookieNameFor(this.manager.cookieSecure(requestSecure));
  }

  private serialize(requestSecure: boolean, value: string): string {
    // A browser-session cookie, host-only, Path=/; HttpOnly since the token reaches scripts through
    // the page or GET /csrf, never through document.cookie. SameSite follows the session cookie.
    return serializeCookie(this.cookieName(requestSecure), value, {
      path: '/',
      secure: this.manager.cookieSecure(requestSecure),
      httpOnly: true,
      sameSite: this.manager.options.cookie.sameSite,
    });
  }
}

/**
 * Whether the request is authenticated by a bearer token that verified and
 * names a live session: only that exempts it from CSRF. An `Authorization`
 * header alone proves nothing (`Bearer garbage` used to skip the check, so
 * sign-in and registration went through without a token).
 */
function isBearerAuthenticated(session: Session): boolean {
  return session.transport === 'bearer' && session.isAuthenticated;
}
