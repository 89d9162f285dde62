import type { IncomingMessage } from 'node:http';
import { Inject, Injectable } from '@nestjs/common';
import { CsrfTokens, isCrossSite, requestOrigin, type CsrfFailure } from '../../core/csrf.js';
import { readCookie, serializeCookie } from '../../core/cookie.js';
import { KeycardError } from '../../core/errors.js';
import { SessionManager } from '../../core/manager.js';
import { findSession, sessionOf, type RequestLike } from '../binding.js';
import { addCookie, requestFacts, requestMethod, type CsrfRequestFacts } from './http.js';
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

/** `csrfTokenFor` was called on a request of an application without `CsrfModule`. */
export class CsrfNotConfiguredError extends KeycardError {
  constructor() {
    super(
      'KEYCARD_CSRF_NOT_CONFIGURED',
      'keycard: no CSRF protection on this request. Import CsrfModule.forRoot() in the application module.',
    );
  }
}

/** The nonce of the pre-session cookie this request has or was just given, so that one request sets it at most once. */
const NONCE = Symbol('keycard.csrf.nonce');
/** The application's CsrfService, on every raw request (see `CsrfModule.configure`), for `csrfTokenFor`. */
const SERVICE = Symbol.for('keycard.csrf.service');

interface Carrier {
  [NONCE]?: string;
  [SERVICE]?: CsrfService;
}

function carrierOf(request: RequestLike): Carrier {
  return ('raw' in request ? request.raw : request) as Carrier;
}

/** @internal Called by CsrfModule for every request, before routing. */
export function attachCsrfService(raw: IncomingMessage, service: CsrfService): void {
  (raw as Carrier)[SERVICE] = service;
}

/**
 * The CSRF token to put in a form (`<input type="hidden" name="_csrf">`) or
 * to answer `GET /csrf` with, from anywhere that holds the request: a
 * controller, an exception filter rendering an error page, a page helper.
 * Same as `CsrfService.tokenFor`.
 */
export function csrfTokenFor(request: RequestLike): string {
  const service = carrierOf(request)[SERVICE];
  if (service === undefined) throw new CsrfNotConfiguredError();
  return service.tokenFor(request);
}

function firstHeader(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** The token the request submitted: the header, else the `_csrf` field of a JSON or urlencoded body. */
function submittedToken(facts: CsrfRequestFacts): string | null {
  // A repeated header arrives joined with ", " and fails verification, as it should.
  const header = facts.headers[CSRF_HEADER];
  if (typeof header === 'string' && header.length > 0) return header;
  const body = facts.body;
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

  constructor(
    private readonly manager: SessionManager,
    @Inject(RESOLVED_CSRF_OPTIONS) private readonly options: ResolvedCsrfOptions,
  ) {
    this.tokens = new CsrfTokens(manager.options.signer, manager.options.random);
  }

  /**
   * The token for this request's forms and scripts, masked afresh on every
   * call. Call it after any sign-in in the same request: signing in changes
   * the token. Without a signed-in session, sets the pre-session cookie on the
   * response when the request has none (at most once per request).
   */
  tokenFor(request: RequestLike): string {
    const session = findSession(request);
    // A store outage renders pages as signed out (their forms fail later, as any write would).
    const principal = session?.available ? session.principal : null;
    const handle = principal !== null ? session?.handle : null;
    if (principal !== null && handle) return this.tokens.forSession(handle, principal.id);

    const carrier = carrierOf(request);
    const facts = requestFacts(request);
    let nonce = carrier[NONCE] ?? this.tokens.nonceOf(readCookie(facts.headers.cookie, this.cookieName(facts)));
    if (nonce === null) {
      const cookie = this.tokens.newCookie();
      if (!addCookie(request, this.serialize(facts, cookie.value))) throw new CsrfResponseError();
      nonce = cookie.nonce;
    }
    carrier[NONCE] = nonce;
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
    return this.reported(this.failureOf(request));
  }

  private failureOf(request: RequestLike): CsrfFailure | null {
    // Before the other facts: protocol and host are trust-proxy getters, not worth computing for a GET.
    if (SAFE_METHODS.has(requestMethod(request))) return null;
    const session = sessionOf(request);
    // Only a bearer token that verifies and names a live session exempts the request: an
    // `Authorization` header alone proves nothing (`Bearer garbage` used to skip the check).
    if (session.transport === 'bearer' && session.isAuthenticated) return null;
    const facts = requestFacts(request);
    if (this.crossSite(facts)) return 'cross-site';
    const token = submittedToken(facts);
    if (token === null) return 'missing';
    const principal = session.principal;
    if (principal !== null) {
      const handle = session.handle;
      return handle !== null && this.tokens.verifySession(token, handle, principal.id) ? null : 'invalid';
    }
    const nonce = this.tokens.nonceOf(readCookie(facts.headers.cookie, this.cookieName(facts)));
    return nonce !== null && this.tokens.verifyNonce(token, nonce) ? null : 'invalid';
  }

  /**
   * The Origin and Sec-Fetch-Site rules alone, for routes that need no token
   * (`@SkipCsrf('token')`: they take credentials in the body and set no
   * cookie) but must still not be driven from another site. Safe methods pass.
   */
  checkOrigin(request: RequestLike): CsrfFailure | null {
    if (SAFE_METHODS.has(requestMethod(request))) return null;
    return this.reported(this.crossSite(requestFacts(request)) ? 'cross-site' : null);
  }

  /** Every failure is a `csrfRefused` event (reason: the failure), for audit logs and metrics. */
  private reported(failure: CsrfFailure | null): CsrfFailure | null {
    if (failure !== null) {
      this.manager.events.emit({ type: 'csrfRefused', handle: null, userId: null, at: this.manager.now(), reason: failure });
    }
    return failure;
  }

  private crossSite(facts: CsrfRequestFacts): boolean {
    return isCrossSite(
      {
        origin: firstHeader(facts.headers.origin),
        fetchSite: firstHeader(facts.headers['sec-fetch-site']),
        self: requestOrigin(facts.protocol, facts.host),
      },
      this.options,
    );
  }

  private cookieSecure(facts: CsrfRequestFacts): boolean {
    return this.manager.cookieSecure(facts.protocol === 'https');
  }

  private cookieName(facts: CsrfRequestFacts): string {
    return this.options.cookieNameFor(this.cookieSecure(facts));
  }

  private serialize(facts: CsrfRequestFacts, value: string): string {
    // A browser-session cookie, host-only, Path=/; HttpOnly since the token reaches scripts through
    // the page or GET /csrf, never through document.cookie. SameSite follows the session cookie.
    return serializeCookie(this.cookieName(facts), value, {
      path: '/',
      secure: this.cookieSecure(facts),
      httpOnly: true,
      sameSite: this.manager.options.cookie.sameSite,
    });
  }
}
