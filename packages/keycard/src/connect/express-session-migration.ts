import { createHmac, timingSafeEqual } from 'node:crypto';
import { systemClock, type Clock } from '../core/clock.js';
import { checkCookieDomain, checkCookieName, checkCookiePath, readCookie, serializeCookie } from '../core/cookie.js';
import { InvalidOptionsError, StoreUnavailableError } from '../core/errors.js';
import type { RequestInfo, ResponseHeaders } from '../core/session-cookie.js';
import type { JsonValue, Principal, SessionData } from '../core/record.js';
import type { Session } from '../core/session.js';
import { callConnectStore, type ConnectStore } from './connect-store-adapter.js';

/** An express-session session as its store returns it: the cookie part, passport's part, and the app's keys. */
export interface LegacySession {
  readonly cookie?: { readonly expires?: string | Date | null; readonly originalMaxAge?: number | null };
  readonly passport?: { readonly user?: unknown };
  readonly [key: string]: unknown;
}

export interface ExpressSessionMigrationOptions {
  /** The express-session store the app used (connect-redis, connect-pg-simple, …), configured as it was (same prefix or table). */
  readonly store: ConnectStore;
  /** express-session's `secret`: a string or the list; every one verifies an old cookie. */
  readonly secrets: string | readonly string[];
  /**
   * The passport user the old session holds (what `serializeUser` stored,
   * `session.passport.user`) → the keycard principal, or null to sign that
   * user out. Typically a database lookup by id.
   */
  readonly principalFor: (passportUser: unknown, session: LegacySession) => Promise<Principal | null> | Principal | null;
  /** express-session's `name`. Default 'connect.sid'. */
  readonly cookieName?: string;
  /** The old cookie's `cookie.path` and `cookie.domain`, to clear it exactly. Default '/', host-only. */
  readonly cookiePath?: string;
  readonly cookieDomain?: string;
  /** Keys of the old session to carry over (JSON values only), e.g. a cart. Default: none. */
  readonly keepData?: (session: LegacySession) => SessionData;
  /** Whether the new session is "remember me" (persistent cookie, longer limits). Default: never. */
  readonly remember?: (session: LegacySession) => boolean;
  /** Milliseconds to wait for the old store. Default 1000. */
  readonly storeTimeout?: number;
  readonly clock?: Clock;
}

/** What happened to a request's old cookie: for logs, metrics and tests. */
export type MigrationOutcome =
  /** No old cookie. */
  | 'none'
  /** Signed in under a new keycard session; the old session is destroyed. */
  | 'migrated'
  /** Carried anonymous data over; nobody was signed in. */
  | 'migrated-anonymous'
  /** The old cookie was forged, unknown, expired, or its user refused; cleared. */
  | 'cleared'
  /** The request already had a keycard sign-in; the old session is destroyed, the cookie cleared. */
  | 'superseded'
  /** A cross-site request (`Sec-Fetch-Site: cross-site`): nothing read or changed; a same-site visit migrates. */
  | 'refused-cross-site'
  /** The old store did not answer: nothing changed, the next request tries again. */
  | 'store-unavailable';

export interface MigrationResult {
  readonly outcome: MigrationOutcome;
  /** Headers to add to the response (clearing the old cookie). */
  readonly headers: ResponseHeaders;
}

const NONE: MigrationResult = { outcome: 'none', headers: [] };

/**
 * Moves express-session users to keycard without signing them out: a request
 * that carries express-session's signed cookie (`s:<sid>.<HMAC>`, the
 * cookie-signature format) and no keycard sign-in has its old session read
 * from the old store; passport's `session.passport.user` becomes a principal
 * through `principalFor`; the old session is destroyed, then the user is
 * signed in under a new keycard session (new id, keycard cookie) and the old
 * cookie is cleared. Each old session migrates once: afterwards the old
 * cookie finds nothing.
 *
 * Destroying first means a failure half-way signs the user out rather than
 * leaving two live sessions. Two requests racing with the same old cookie
 * can both migrate (each gets its own keycard session); the old store has no
 * conditional delete to prevent it.
 */
export class ExpressSessionMigration {
  private readonly keys: readonly Buffer[];
  private readonly cookieName: string;
  private readonly cookiePath: string;
  private readonly cookieDomain: string | undefined;
  private readonly timeoutMs: number;
  private readonly clock: Clock;

  constructor(private readonly options: ExpressSessionMigrationOptions) {
    const fail = (message: string): never => {
      throw new InvalidOptionsError(`keycard: migrateFromExpressSession.${message}`);
    };
    const store = options.store;
    if (typeof store?.get !== 'function' || typeof store.destroy !== 'function') fail('store must be an express-session store (get, destroy)');
    const secrets = typeof options.secrets === 'string' ? [options.secrets] : options.secrets;
    if (!Array.isArray(secrets) || secrets.length === 0 || secrets.some((secret) => typeof secret !== 'string' || secret.length === 0)) {
      fail('secrets must be the express-session secret(s) the old cookies were signed with');
    }
    if (typeof options.principalFor !== 'function') fail('principalFor is required: it maps session.passport.user to a principal');
    this.keys = secrets.map((secret) => Buffer.from(secret, 'utf8'));
    this.cookieName = options.cookieName ?? 'connect.sid';
    const problem =
      checkCookieName(this.cookieName) ??
      checkCookiePath(options.cookiePath ?? '/') ??
      (options.cookieDomain === undefined ? null : checkCookieDomain(options.cookieDomain));
    if (problem) fail(`cookie: ${problem}`);
    this.cookiePath = options.cookiePath ?? '/';
    this.cookieDomain = options.cookieDomain;
    this.timeoutMs = options.storeTimeout ?? 1000;
    if (!Number.isFinite(this.timeoutMs) || this.timeoutMs <= 0) fail('storeTimeout must be a positive number of milliseconds');
    this.clock = options.clock ?? systemClock;
  }

  /** Whether the request carries the old cookie at all: the cheap check, made on every request. */
  presented(request: RequestInfo): boolean {
    return readCookie(request.cookieHeader, this.cookieName) !== null;
  }

  /**
   * Migrates the request's old session into `session` (just loaded by
   * keycard). Signs in and stores the new session before it resolves; the
   * caller adds `headers` to the response and commits the session as usual.
   */
  async migrate(request: RequestInfo, session: Session): Promise<MigrationResult> {
    const raw = readCookie(request.cookieHeader, this.cookieName);
    if (raw === null) return NONE;
    const sid = this.unsign(raw);
    const clear = this.clearHeaders(request.secure);
    if (sid === null) return { outcome: 'cleared', headers: clear };
    // Another site must not make the browser adopt an old session (one an
    // attacker planted by cookie tossing: login CSRF). The old cookie stays
    // for a same-site visit, which migrates it.
    if (request.fetchSite?.toLowerCase() === 'cross-site') return { outcome: 'refused-cross-site', headers: [] };
    try {
      if (!session.available) return { outcome: 'store-unavailable', headers: [] };
      if (session.isAuthenticated) {
        await this.destroy(sid);
        return { outcome: 'superseded', headers: clear };
      }
      const legacy = await callConnectStore<LegacySession | null>('get', this.timeoutMs, (done) => this.options.store.get(sid, done as never));
      if (!legacy || typeof legacy !== 'object') return { outcome: 'cleared', headers: clear };
      await this.destroy(sid);
      if (this.expired(legacy)) return { outcome: 'cleared', headers: clear };
      const data = this.options.keepData?.(legacy) ?? {};
      const user = legacy.passport?.user;
      const principal = user === undefined ? null : await this.options.principalFor(user, legacy);
      for (const [key, value] of Object.entries(data)) session.set(key, value as JsonValue);
      if (principal) await session.signIn(principal, { remember: this.options.remember?.(legacy) ?? false });
      await session.save();
      const outcome = principal ? 'migrated' : Object.keys(data).length > 0 ? 'migrated-anonymous' : 'cleared';
      return { outcome, headers: clear };
    } catch (error) {
      if (error instanceof StoreUnavailableError) return { outcome: 'store-unavailable', headers: [] };
      throw error;
    }
  }

  /** express-session's sid inside `s:<sid>.<signature>` (URI-encoded on the wire), or null unless a secret verifies it. */
  unsign(raw: string): string | null {
    let value: string;
    try {
      value = decodeURIComponent(raw);
    } catch {
      return null;
    }
    if (!value.startsWith('s:')) return null;
    const signed = value.slice(2);
    const dot = signed.lastIndexOf('.');
    if (dot <= 0) return null;
    const sid = signed.slice(0, dot);
    const given = Buffer.from(signed.slice(dot + 1));
    for (const key of this.keys) {
      // cookie-signature: base64 HMAC-SHA256 without its '=' padding.
      const expected = Buffer.from(createHmac('sha256', key).update(sid).digest('base64').replace(/=+$/, ''));
      if (expected.length === given.length && timingSafeEqual(expected, given)) return sid;
    }
    return null;
  }

  private expired(legacy: LegacySession): boolean {
    const expires = legacy.cookie?.expires;
    if (expires === null || expires === undefined) return false;
    const at = new Date(expires).getTime();
    return !Number.isFinite(at) || at <= this.clock.now();
  }

  private destroy(sid: string): Promise<void> {
    return callConnectStore<void>('destroy', this.timeoutMs, (done) => this.options.store.destroy(sid, done));
  }

  private clearHeaders(secure: boolean): ResponseHeaders {
    const attributes = { path: this.cookiePath, domain: this.cookieDomain, secure, httpOnly: true, sameSite: 'Lax', maxAge: 0 } as const;
    return [['Set-Cookie', serializeCookie(this.cookieName, '', attributes)]];
  }
}
