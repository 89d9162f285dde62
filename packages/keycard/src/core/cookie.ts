/**
 * The cookie codec: pure functions over header strings (RFC 6265 and
 * draft-ietf-httpbis-rfc6265bis). Framework bindings only move strings.
 */

/** rfc6265bis §4.1.2.2 / §5.6.1: user agents cap Max-Age at 400 days. */
export const MAX_COOKIE_AGE_SECONDS = 400 * 24 * 60 * 60;

/** Cookie headers past this size are not parsed (browsers send at most ~4 KiB per cookie). */
const MAX_COOKIE_HEADER = 16 * 1024;

export type SameSite = 'Strict' | 'Lax' | 'None';

export interface CookieAttributes {
  readonly path: string;
  readonly domain?: string | undefined;
  readonly secure: boolean;
  readonly httpOnly: boolean;
  readonly sameSite: SameSite;
  /** Seconds; absent means a session cookie that the browser drops on exit. */
  readonly maxAge?: number | undefined;
}

/**
 * The value of cookie `name`, or null when it is absent, appears more than
 * once (ambiguous: a sibling domain may have planted one) or the header is
 * oversized. Values are returned raw; only the token verifier decides what is valid.
 */
export function readCookie(header: string | undefined | null, name: string): string | null {
  if (typeof header !== 'string' || header.length === 0 || header.length > MAX_COOKIE_HEADER) return null;
  let found: string | null = null;
  let start = 0;
  while (start < header.length) {
    let end = header.indexOf(';', start);
    if (end === -1) end = header.length;
    const eq = header.indexOf('=', start);
    if (eq !== -1 && eq < end && header.slice(start, eq).trim() === name) {
      if (found !== null) return null;
      found = header.slice(eq + 1, end).trim();
    }
    start = end + 1;
  }
  return found;
}

/**
 * A Set-Cookie header value. Enforces the prefix rules: `__Host-` needs Secure,
 * Path=/ and no Domain; `__Secure-` needs Secure (rfc6265bis §4.1.3).
 */
export function serializeCookie(name: string, value: string, attributes: CookieAttributes): string {
  if (name.startsWith('__Host-') && (!attributes.secure || attributes.path !== '/' || attributes.domain)) {
    throw new TypeError('a __Host- cookie must be Secure, have Path=/ and no Domain');
  }
  if (name.startsWith('__Secure-') && !attributes.secure) {
    throw new TypeError('a __Secure- cookie must be Secure');
  }
  let out = `${name}=${value}; Path=${attributes.path}`;
  if (attributes.domain) out += `; Domain=${attributes.domain}`;
  if (attributes.maxAge !== undefined) {
    const maxAge = Math.max(0, Math.min(Math.floor(attributes.maxAge), MAX_COOKIE_AGE_SECONDS));
    out += `; Max-Age=${maxAge}`;
    if (maxAge === 0) out += '; Expires=Thu, 01 Jan 1970 00:00:00 GMT';
  }
  if (attributes.httpOnly) out += '; HttpOnly';
  if (attributes.secure) out += '; Secure';
  out += `; SameSite=${attributes.sameSite}`;
  return out;
}
