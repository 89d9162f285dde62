/**
 * The cookie codec: pure functions over header strings (RFC 6265 and
 * draft-ietf-httpbis-rfc6265bis). Framework bindings only move strings.
 */

/** rfc6265bis §4.1.2.2 / §5.6.1: user agents cap Max-Age at 400 days. */
export const MAX_COOKIE_AGE_SECONDS = 400 * 24 * 60 * 60;

/** Cookie headers past this size are not parsed (browsers send at most ~4 KiB per cookie). */
const MAX_COOKIE_HEADER = 16 * 1024;

/** rfc6265bis §5.6: a user agent ignores a cookie whose name and value together exceed 4096 octets. */
export const MAX_COOKIE_NAME_VALUE_BYTES = 4096;

/** rfc6265bis §5.6: attribute values over 1024 octets are ignored by user agents. */
const MAX_ATTRIBUTE_BYTES = 1024;

/** RFC 9110 §5.6.2 `token`, which rfc6265bis §4.1.1 uses for `cookie-name`. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** rfc6265bis §4.1.1 `cookie-octet`: US-ASCII except CTLs, whitespace, DQUOTE, comma, semicolon and backslash. */
const COOKIE_OCTETS = /^[\x21\x23-\x2B\x2D-\x3A\x3C-\x5B\x5D-\x7E]*$/;
/** rfc6265bis §4.1.1 `av-octet` (path-value): any CHAR except CTLs or ";". */
const AV_OCTETS = /^[\x20-\x3A\x3C-\x7E]*$/;
/** RFC 1034 §3.5 / RFC 1123 §2.1 labels (a leading dot is allowed and ignored, rfc6265bis §5.6.3). */
const DOMAIN = /^\.?[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/*
 * The validators below are shared by every cookie keycard writes: its own
 * (session, CSRF, device) and the application's (`CookieJar`). Each returns a
 * sentence saying what is wrong, or null; callers decide the error type
 * (startup options: InvalidOptionsError; a handler's cookie: InvalidCookieError).
 */

/** Why `name` cannot be a cookie name, or null. */
export function checkCookieName(name: unknown): string | null {
  if (typeof name !== 'string' || !TOKEN.test(name)) return `${JSON.stringify(name)} is not a valid cookie name (RFC 9110 token characters only)`;
  return null;
}

/** Why `value` cannot go in a Set-Cookie as is, or null. */
export function checkCookieValue(value: unknown): string | null {
  if (typeof value !== 'string' || !COOKIE_OCTETS.test(value)) return 'the cookie value has characters a cookie cannot carry (encode it first)';
  return null;
}

/** Why `path` cannot be a Path attribute, or null: it must start with `/`, without CTLs or `;`. */
export function checkCookiePath(path: unknown): string | null {
  if (typeof path !== 'string' || !path.startsWith('/')) return `path must start with '/', got ${JSON.stringify(path)}`;
  if (!AV_OCTETS.test(path)) return `path ${JSON.stringify(path)} contains a control character or ';'`;
  if (Buffer.byteLength(path) > MAX_ATTRIBUTE_BYTES) return `path is longer than ${MAX_ATTRIBUTE_BYTES} bytes`;
  return null;
}

/** Why `domain` cannot be a Domain attribute, or null: a host name of letters, digits, hyphens and dots. */
export function checkCookieDomain(domain: unknown): string | null {
  if (typeof domain !== 'string' || domain.length > 253 || !DOMAIN.test(domain)) {
    return `domain ${JSON.stringify(domain)} is not a host name (letters, digits, '-' and '.' only)`;
  }
  return null;
}

/** Why `seconds` cannot be a Max-Age, or null: a whole number from 0 to 400 days (rfc6265bis §4.1.2.2). */
export function checkMaxAge(seconds: unknown): string | null {
  if (typeof seconds !== 'number' || !Number.isInteger(seconds) || seconds < 0 || seconds > MAX_COOKIE_AGE_SECONDS) {
    return `maxAge must be a whole number of seconds from 0 to ${MAX_COOKIE_AGE_SECONDS} (400 days), got ${String(seconds)}`;
  }
  return null;
}

/**
 * Why these attributes break the prefix or SameSite rules, or null:
 * `__Host-` needs Secure, Path=/ and no Domain; `__Secure-` needs Secure
 * (rfc6265bis §4.1.3); SameSite=None needs Secure (§5.6.7).
 */
export function checkCookieRules(name: string, attributes: Pick<CookieAttributes, 'secure' | 'path' | 'domain' | 'sameSite'>): string | null {
  if (name.startsWith('__Host-') && (!attributes.secure || attributes.path !== '/' || attributes.domain)) {
    return 'a __Host- cookie must be Secure, have Path=/ and no Domain';
  }
  if (name.startsWith('__Secure-') && !attributes.secure) return 'a __Secure- cookie must be Secure';
  if (attributes.sameSite === 'None' && !attributes.secure) return 'a SameSite=None cookie must be Secure';
  return null;
}

/**
 * Every cookie in a `Cookie` header, in an object without a prototype (a
 * cookie named `__proto__` is just a key). A name sent more than once is left
 * out, as `readCookie` would give null for it: which of the two the browser
 * meant cannot be told, and a sibling domain may have planted one. Values are raw.
 */
export function parseCookies(header: string | undefined | null): Record<string, string> {
  const cookies: Record<string, string> = Object.create(null) as Record<string, string>;
  if (typeof header !== 'string' || header.length === 0 || header.length > MAX_COOKIE_HEADER) return cookies;
  const repeated = new Set<string>();
  let start = 0;
  while (start < header.length) {
    let end = header.indexOf(';', start);
    if (end === -1) end = header.length;
    const eq = header.indexOf('=', start);
    if (eq !== -1 && eq < end) {
      const name = header.slice(start, eq).trim();
      if (name.length > 0) {
        if (Object.hasOwn(cookies, name)) repeated.add(name);
        else cookies[name] = header.slice(eq + 1, end).trim();
      }
    }
    start = end + 1;
  }
  for (const name of repeated) delete cookies[name];
  return cookies;
}

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
  const broken = checkCookieRules(name, attributes);
  if (broken) throw new TypeError(broken);
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
