/**
 * Headers on every response, HTML pages and error pages included, set before
 * any route or error handler runs (SPEC "Headers and operations"): nothing
 * can be framed (clickjacking a sign-out form on a 404 page was possible),
 * sniffed into another type, or leak its URL to other sites. Pages load only
 * their own stylesheet, and post forms only to this site. On JSON the same
 * policy is harmless and covers a browser that renders one.
 *
 * `Cache-Control: no-store` is the default for the same reason it is set this
 * early: the JSON API answers with personal data (/api/auth/me, the session
 * lists, the CSRF token, the admin routes) that a shared cache or the back
 * button must never replay, errors included. A route that may be cached sets
 * its own (the stylesheet's `@Header` replaces this one). It was a global Nest
 * interceptor, which cost every request rxjs' machinery: on Fastify about a
 * tenth of the reference app's CPU per authenticated read (BENCHMARKS.md, 10b).
 */
export const SECURITY_HEADERS: readonly (readonly [string, string])[] = [
  ['Content-Security-Policy', "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"],
  ['X-Content-Type-Options', 'nosniff'],
  ['Referrer-Policy', 'same-origin'],
  ['X-Frame-Options', 'DENY'],
  ['Cache-Control', 'no-store'],
];

interface HeaderTarget {
  setHeader?(name: string, value: string): unknown;
  header?(name: string, value: string): unknown;
}

/** Adds the security headers to an Express response or a Fastify reply. */
export function addSecurityHeaders(response: HeaderTarget): void {
  for (const [name, value] of SECURITY_HEADERS) {
    if (typeof response.header === 'function') response.header(name, value);
    else response.setHeader?.(name, value);
  }
}
