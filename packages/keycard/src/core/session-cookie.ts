import { readCookie, serializeCookie } from './cookie.js';
import type { ResolvedOptions } from './options.js';
import type { SessionRecord } from './record.js';
import { sessionIdOf } from './token.js';
import { VerifiedTokenCache, type VerifiedValue } from './token-cache.js';

/**
 * What a binding reads off a request: strings and flags, never a framework
 * object. The fields may be getters: `userAgent` and `ip` are read only when
 * the request's session records its device (a sign-in, a new session), which
 * most requests never do; `secure` is read once, when the session is loaded.
 */
export interface RequestInfo {
  readonly cookieHeader?: string | undefined;
  readonly authorization?: string | undefined;
  /** The request came over HTTPS, as the framework's trust-proxy setting sees it. */
  readonly secure: boolean;
  readonly userAgent?: string | undefined;
  readonly ip?: string | undefined;
  /** The browser's `Sec-Fetch-Site` header, when sent (what the express-session migration refuses cross-site). */
  readonly fetchSite?: string | undefined;
}

/** Headers a binding copies onto the response, in order. */
export type ResponseHeaders = ReadonlyArray<readonly [name: string, value: string]>;

/** How the request presented its session. */
export type Transport = 'cookie' | 'bearer';

/** What the response must do with the session cookie. */
export type CookieAction =
  | { readonly kind: 'none' }
  | { readonly kind: 'set'; readonly signedToken: string; readonly maxAgeSeconds: number | undefined }
  | { readonly kind: 'clear'; readonly clearSiteData: boolean };

/** The token a request presented, and what verifying it gave. */
export interface PresentedToken {
  readonly transport: Transport;
  /** Null for a value this server did not sign: no store lookup is made for it. */
  readonly verified: VerifiedValue | null;
}

const BEARER = /^Bearer +(\S+)$/i;

/**
 * The session's token on the wire: read from the `Cookie` header (or
 * `Authorization: Bearer`), verified and turned into its store key on the
 * way in; signed and written as `Set-Cookie` (with `Cache-Control` and
 * `Clear-Site-Data`) on the way out. Strings in, headers out.
 */
export class SessionCookie {
  private readonly verified: VerifiedTokenCache;

  /** Whether the cookie's value is the record itself (sealed-cookie sessions): then every change re-issues it. */
  readonly carriesRecord: boolean = false;

  constructor(private readonly options: ResolvedOptions) {
    this.verified = new VerifiedTokenCache(options.signer);
  }

  /** The value the cookie carries for a session: its signed token (the record stays in the store). */
  valueFor(token: string, _record: SessionRecord, _requestSecure: boolean): string {
    return this.sign(token);
  }

  /** Whether the cookie gets `Secure` for a request over HTTPS (or not): the `cookie.secure` option, `'auto'` resolved. */
  secureFor(requestSecure: boolean): boolean {
    const setting = this.options.cookie.secure;
    return setting === 'auto' ? requestSecure : setting;
  }

  /** The cookie's name for a request over HTTPS (or not): `__Host-sid` when Secure, `sid` otherwise. */
  nameFor(requestSecure: boolean): string {
    return this.options.cookie.nameFor(this.secureFor(requestSecure));
  }

  /** The token the request presents (a bearer header first, when enabled, then the cookie), or null for none. */
  read(request: RequestInfo, requestSecure: boolean): PresentedToken | null {
    if (this.options.bearer && request.authorization) {
      const match = BEARER.exec(request.authorization);
      if (match) return { transport: 'bearer', verified: this.verified.verify(match[1] as string) };
    }
    const value = readCookie(request.cookieHeader, this.nameFor(requestSecure));
    return value === null ? null : { transport: 'cookie', verified: this.verified.verify(value) };
  }

  /** A fresh token and its store key. */
  issue(): { readonly token: string; readonly id: string } {
    const token = this.options.signer.newToken(this.options.random);
    return { token, id: sessionIdOf(token) };
  }

  /** The value a cookie or bearer header carries for `token`. */
  sign(token: string): string {
    return this.options.signer.sign(token);
  }

  /** Seconds for a persistent cookie (remember me), undefined for a browser-session cookie. */
  maxAge(record: SessionRecord, now: number): number | undefined {
    return record.remember ? Math.floor((record.absoluteExpiresAt - now) / 1000) : undefined;
  }

  /** The response headers that carry out `action` for a request over HTTPS (or not). */
  headers(action: CookieAction, requestSecure: boolean): ResponseHeaders {
    if (action.kind === 'none') return [];
    const secure = this.secureFor(requestSecure);
    const cookie = this.options.cookie;
    const attributes = { path: cookie.path, domain: cookie.domain, secure, httpOnly: true, sameSite: cookie.sameSite };
    const name = cookie.nameFor(secure);
    if (action.kind === 'set') {
      return [
        ['Set-Cookie', serializeCookie(name, action.signedToken, { ...attributes, maxAge: action.maxAgeSeconds })],
        ['Cache-Control', 'no-store'],
      ];
    }
    const headers: [string, string][] = [
      ['Set-Cookie', serializeCookie(name, '', { ...attributes, maxAge: 0 })],
      ['Cache-Control', 'no-store'],
    ];
    if (action.clearSiteData) headers.push(['Clear-Site-Data', '"cookies"']);
    return headers;
  }
}
