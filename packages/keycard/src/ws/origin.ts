import { normalizeOrigin } from '../core/csrf.js';
import { InvalidOptionsError } from '../core/errors.js';

/**
 * Decides whether a WebSocket handshake's `Origin` may open a cookie-authenticated socket.
 * `host` is the host the client connected to (the `Host` header, or `X-Forwarded-Host` behind a trusted proxy).
 */
export type OriginCheck = (origin: string | undefined, host: string | undefined) => boolean;

/**
 * Cross-site WebSocket hijacking defence. Browsers attach cookies to a
 * WebSocket handshake from any site and the same-origin policy does not apply
 * to WebSockets, so the `Origin` header is the only thing that tells a page on
 * evil.example from our own. Same-origin pages (Origin's host equal to the
 * Host the client connected to) and the listed origins pass; `null` (sandboxed
 * frames, `file:`) and every other origin fail. A handshake without `Origin`
 * passes: browsers always send one, so its absence means a non-browser client,
 * which has no ambient cookie to abuse.
 *
 * The scheme is not compared with the connection's: behind a TLS-terminating
 * proxy the server cannot see it, and a page on http://our-host can only be
 * served by us or by someone who can already read our cookies.
 *
 * Validated once: a listed origin must be exactly `scheme://host[:port]`
 * (what browsers send), since anything else could never match.
 */
export function resolveOriginCheck(allowedOrigins: readonly string[] = []): OriginCheck {
  if (!Array.isArray(allowedOrigins)) {
    throw new InvalidOptionsError('keycard: allowedOrigins must be an array of origins such as "https://app.example.com"');
  }
  const allowed = new Set<string>();
  for (const entry of allowedOrigins as readonly unknown[]) {
    const origin = typeof entry === 'string' ? normalizeOrigin(entry) : null;
    if (origin === null || origin !== (entry as string).toLowerCase()) {
      throw new InvalidOptionsError(
        `keycard: allowedOrigins entry ${JSON.stringify(entry)} is not an origin; write it as the browser sends it, e.g. "https://app.example.com" (scheme, host and port only)`,
      );
    }
    allowed.add(origin);
  }
  return (origin, host) => {
    if (origin === undefined) return true;
    const parsed = normalizeOrigin(origin);
    if (parsed === null) return false;
    if (allowed.has(parsed)) return true;
    return host !== undefined && new URL(parsed).host === host.toLowerCase();
  };
}
