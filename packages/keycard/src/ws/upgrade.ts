import type { IncomingMessage } from 'node:http';
import { StoreUnavailableError } from '../core/errors.js';
import type { SessionManager } from '../core/manager.js';
import type { ResponseHeaders } from '../core/session-cookie.js';
import { expiresAt, type Principal } from '../core/record.js';
import { compileTrustProxy, forwardedFacts, type TrustFn, type TrustProxy } from './limits.js';
import type { OriginCheck } from './origin.js';

/** What the upgrade check reads off a handshake request: strings and flags, like the core's `RequestInfo`. */
export interface UpgradeInfo {
  readonly cookieHeader?: string | undefined;
  /**
   * `Bearer <token>` for clients without cookies. Browsers cannot put headers
   * on a WebSocket handshake, so only adapters whose protocol carries a
   * credential (socket.io's `auth`) fill it in.
   */
  readonly authorization?: string | undefined;
  readonly origin?: string | undefined;
  /** The host the client connected to, for the same-origin check. */
  readonly host?: string | undefined;
  /** The handshake came over TLS (decides the cookie name under `cookie.secure: 'auto'`). */
  readonly secure: boolean;
  readonly userAgent?: string | undefined;
  readonly ip?: string | undefined;
}

/** A signed-in session as a socket holds it: no token, nothing that could be turned into a cookie. */
export interface AuthenticatedSession {
  /** The session's public handle: stable across rotations, the key of revocation messages. */
  readonly handle: string;
  readonly principal: Principal;
  /** Milliseconds since the epoch (manager clock): when the session ends unless used over HTTP meanwhile. */
  readonly expiresAt: number;
  /** Milliseconds since the epoch: the principal's last sign-in or re-authentication (`@RequireFreshAuth`). */
  readonly authenticatedAt: number | null;
  /** Sealed-cookie sessions only: the sealed session's id, which its revocation marker is kept under (the registry re-checks it). */
  readonly sealedId?: string;
}

/** Why a handshake was refused; the codes match the HTTP API's error bodies. */
export type UpgradeRefusalCode = 'KEYCARD_UNAUTHENTICATED' | 'KEYCARD_FORBIDDEN_ORIGIN' | 'KEYCARD_STORE_UNAVAILABLE';

/** The JSON body of a refused handshake: the same shape as keycard's HTTP error bodies. */
export interface UpgradeRefusalBody {
  readonly statusCode: 401 | 403 | 503;
  readonly error: string;
  readonly message: string;
  readonly code: UpgradeRefusalCode;
}

export type UpgradeDecision =
  | {
      readonly ok: true;
      readonly session: AuthenticatedSession;
      /** Headers for the 101 response: a session rotated (roles changed) or re-signed while loading gets its new cookie here. */
      readonly headers: ResponseHeaders;
    }
  | { readonly ok: false; readonly body: UpgradeRefusalBody };

const REFUSALS: { readonly [code in UpgradeRefusalCode]: UpgradeRefusalBody } = {
  KEYCARD_UNAUTHENTICATED: {
    statusCode: 401,
    error: 'Unauthorized',
    message: 'Sign in to continue.',
    code: 'KEYCARD_UNAUTHENTICATED',
  },
  KEYCARD_FORBIDDEN_ORIGIN: {
    statusCode: 403,
    error: 'Forbidden',
    message: 'WebSocket connections from this origin are not allowed.',
    code: 'KEYCARD_FORBIDDEN_ORIGIN',
  },
  KEYCARD_STORE_UNAVAILABLE: {
    statusCode: 503,
    error: 'Service Unavailable',
    message: 'The session store is unavailable; try again shortly.',
    code: 'KEYCARD_STORE_UNAVAILABLE',
  },
};

function refuse(code: UpgradeRefusalCode): UpgradeDecision {
  return { ok: false, body: REFUSALS[code] };
}

/**
 * Decides a WebSocket handshake: 403 for a foreign Origin (checked first, so
 * a hijacking page learns nothing about the session), 503 when the store
 * cannot be reached, 401 for anything but a live signed-in session (no
 * cookie, forged, expired, revoked or anonymous). Only the cookie counts:
 * browsers cannot put `Authorization` on a WebSocket handshake.
 *
 * Loading is a real use of the session (it touches it like any request).
 * When loading rotated it (roles refreshed elsewhere) the old cookie is
 * already dead, so the new one must reach the browser on the 101 response:
 * `headers` carries it.
 */
export async function authenticateUpgrade(
  manager: SessionManager,
  info: UpgradeInfo,
  originAllowed: OriginCheck,
): Promise<UpgradeDecision> {
  if (!originAllowed(info.origin, info.host)) return refuse('KEYCARD_FORBIDDEN_ORIGIN');
  const session = await manager.load({
    cookieHeader: info.cookieHeader,
    authorization: info.authorization,
    secure: info.secure,
    userAgent: info.userAgent,
    ip: info.ip,
  });
  if (!session.available) return refuse('KEYCARD_STORE_UNAVAILABLE');
  const record = session.snapshot;
  if (record === null || record.principal === null) return refuse('KEYCARD_UNAUTHENTICATED');
  let headers: ResponseHeaders;
  try {
    headers = await manager.commit(session);
  } catch (error) {
    if (error instanceof StoreUnavailableError) return refuse('KEYCARD_STORE_UNAVAILABLE');
    throw error;
  }
  // A commit can find the session ended meanwhile (signed out elsewhere during the rotation).
  const current = session.snapshot;
  if (current === null || current.principal === null) return refuse('KEYCARD_UNAUTHENTICATED');
  const authenticated: AuthenticatedSession = {
    handle: current.handle,
    principal: current.principal,
    expiresAt: expiresAt(current),
    authenticatedAt: current.authenticatedAt,
    ...(manager.options.sealed ? { sealedId: current.id } : {}),
  };
  return { ok: true, session: authenticated, headers };
}

export interface UpgradeRequestOptions {
  /**
   * Which proxies to believe about the client (`X-Forwarded-For`, `-Proto`,
   * `-Host`): the same value as the HTTP platform's trust-proxy setting
   * (Express `trust proxy`), compiled with proxy-addr. Default false.
   */
  readonly trustProxy?: TrustProxy | TrustFn;
}

/**
 * Reads a Node handshake request (what `ws` and every Node WebSocket server
 * get) into `UpgradeInfo`. The HTTP frameworks never see upgrade requests, so
 * their trust-proxy setting does not apply here: `trustProxy` repeats it,
 * and the client IP is the right-most untrusted `X-Forwarded-For` address
 * (never the left-most one a client can write).
 */
export function upgradeInfoOf(request: IncomingMessage, options: UpgradeRequestOptions = {}): UpgradeInfo {
  const trust = typeof options.trustProxy === 'function' ? options.trustProxy : compileTrustProxy(options.trustProxy);
  const headers = request.headers;
  const forwarded = forwardedFacts(request, trust);
  return {
    cookieHeader: headers.cookie,
    origin: headers.origin,
    host: forwarded.host,
    secure: forwarded.secure,
    userAgent: headers['user-agent'],
    ip: forwarded.ip,
  };
}
