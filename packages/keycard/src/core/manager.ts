import { serializeCookie } from './cookie.js';
import { readCookie } from './cookie.js';
import { withDeadline } from './deadline.js';
import { InvalidOptionsError, SessionLimitError, StoreUnavailableError } from './errors.js';
import { SessionEvents, type SessionEventType } from './events.js';
import { resolveOptions, type ResolvedCache, type ResolvedOptions, type SessionOptions } from './options.js';
import { expiresAt, isLive, type Principal, type SessionPatch, type SessionRecord } from './record.js';
import { CachedStore } from './cached-store.js';
import { SessionCache, type CacheStats } from './session-cache.js';
import { Session, type ClientInfo, type Transport } from './session.js';
import type { SessionStore } from './store.js';
import { sessionIdOf } from './token.js';
import { VerifiedTokenCache } from './token-cache.js';

/**
 * What a binding reads off a request: strings and flags, never a framework
 * object. The fields may be getters: `userAgent` and `ip` are read only when
 * the request's session records its device (a sign-in, a new session), which
 * most requests never do.
 */
export interface RequestInfo {
  readonly cookieHeader?: string | undefined;
  readonly authorization?: string | undefined;
  /** The request came over HTTPS, as the framework's trust-proxy setting sees it. */
  readonly secure: boolean;
  readonly userAgent?: string | undefined;
  readonly ip?: string | undefined;
}

/** Headers a binding copies onto the response, in order. */
export type ResponseHeaders = ReadonlyArray<readonly [name: string, value: string]>;

/** A session as a device list shows it; `handle` cannot be turned into a cookie. */
export interface SessionInfo {
  readonly handle: string;
  readonly createdAt: number;
  readonly lastSeenAt: number;
  readonly authenticatedAt: number | null;
  readonly expiresAt: number;
  readonly remember: boolean;
  readonly userAgent: string | null;
  readonly ip: string | null;
}

/** What a readiness probe reports: whether the session store answered `ping` within `storeTimeout`. */
export interface StoreHealth {
  readonly store: 'up' | 'down';
}

export interface IssuedToken {
  /** Goes in `Authorization: Bearer <token>`. */
  readonly token: string;
  /** Milliseconds since the epoch: the absolute expiry (idle expiry may come first). */
  readonly expiresAt: number;
}

const BEARER = /^Bearer +(\S+)$/i;

/**
 * The session engine: reads a request's session (one store round trip, touch
 * included), enforces idle and absolute timeouts, rotates, and turns a
 * request's changes into store writes and response headers. Framework-free.
 */
export class SessionManager {
  readonly options: ResolvedOptions;
  readonly events = new SessionEvents();
  private readonly verified: VerifiedTokenCache;
  /** The configured store, behind the session cache when that is on. */
  private readonly sessions: SessionStore;
  private readonly cache: SessionCache | null;

  constructor(options: SessionOptions) {
    this.options = resolveOptions(options);
    this.verified = new VerifiedTokenCache(this.options.signer);
    this.options.store.configure?.({ storeTimeoutMs: this.options.storeTimeoutMs });
    this.cache = cacheFor(this.options.store, this.options.cache, options.cache !== undefined);
    this.sessions = this.cache === null ? this.options.store : new CachedStore(this.options.store, this.cache);
  }

  /** The store every call goes through: the configured one, behind the session cache when that is on. */
  get store(): SessionStore {
    return this.sessions;
  }

  /** The session cache's size and counters; null when the cache is off. */
  cacheStats(): CacheStats | null {
    return this.cache?.stats() ?? null;
  }

  now(): number {
    return this.options.clock.now();
  }

  /** The cookie name for a request that is (or is not) secure, per the `cookie.secure` option. */
  cookieName(requestSecure: boolean): string {
    return this.options.cookie.nameFor(this.cookieSecure(requestSecure));
  }

  /**
   * The request's session. Never throws: a missing, forged or expired token
   * gives an anonymous session (no store call for a bad signature), and a store
   * outage gives a session whose reads throw StoreUnavailableError, so that
   * routes that do not use the session keep working.
   */
  async load(request: RequestInfo): Promise<Session> {
    const presented = this.presentedToken(request);
    if (!presented) return new Session(this, null, request, null);
    const verified = this.verified.verify(presented.value);
    if (!verified) return new Session(this, presented.transport, request, null);
    const now = this.now();
    let record: SessionRecord | null;
    try {
      record = await this.call(this.store.find(verified.id, now, this.options.touchIntervalMs), 'find');
    } catch (error) {
      if (error instanceof StoreUnavailableError) return new Session(this, presented.transport, request, null, error);
      throw error;
    }
    if (!record) return new Session(this, presented.transport, request, null);
    if (!isLive(record, now)) {
      this.emit('expired', record);
      void this.store.destroy(record.id).catch(() => undefined);
      return new Session(this, presented.transport, request, null);
    }
    const session = new Session(this, presented.transport, request, { record, token: verified.token });
    if (record.rotationDue) {
      await this.applyRefreshedPrincipal(session, record);
    } else if (verified.stale && presented.transport === 'cookie') {
      session.reissueCookie();
    }
    return session;
  }

  /**
   * Stores the request's pending changes and returns the headers the response
   * must carry. Call it before the response is sent, so that the next request
   * can never outrun the write.
   */
  async commit(session: Session, requestSecure: boolean): Promise<ResponseHeaders> {
    await session.flush();
    const action = session.takeCookieAction();
    if (action.kind === 'none') return [];
    const secure = this.cookieSecure(requestSecure);
    const attributes = {
      path: this.options.cookie.path,
      domain: this.options.cookie.domain,
      secure,
      httpOnly: true,
      sameSite: this.options.cookie.sameSite,
    };
    const name = this.options.cookie.nameFor(secure);
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

  /** A signed-in session for a client without cookies; the token goes in `Authorization: Bearer`. */
  async issueToken(principal: Principal, client: Partial<ClientInfo> = {}): Promise<IssuedToken> {
    await this.makeRoomFor(principal.id, undefined);
    const { record, token } = this.newRecord({ userAgent: client.userAgent ?? null, ip: client.ip ?? null }, principal, false);
    await this.createRecord(record);
    return { token: this.sign(token), expiresAt: record.absoluteExpiresAt };
  }

  /** The user's live sessions, oldest first. */
  async listSessions(userId: string): Promise<SessionInfo[]> {
    const records = await this.call(this.store.listByUser(userId, this.now()), 'listByUser');
    return records.map(toInfo);
  }

  /** Ends one of the user's sessions by its public handle; false when it is not theirs or not live. */
  async revokeSession(userId: string, handle: string): Promise<boolean> {
    const records = await this.call(this.store.listByUser(userId, this.now()), 'listByUser');
    const target = records.find((record) => record.handle === handle);
    if (!target) return false;
    const destroyed = await this.call(this.store.destroy(target.id), 'destroy');
    if (destroyed) this.emit('revoked', target, 'revoked');
    return destroyed;
  }

  /**
   * Ends every session of a user (account disabled, deleted, password reset),
   * except `except` when given (the caller's own). Returns the ended handles.
   */
  async revokeAll(userId: string, except?: Session): Promise<string[]> {
    const keep = except?.snapshot;
    const handles = await this.call(
      this.store.revokeAll(userId, keep?.principal?.id === userId ? keep.id : undefined),
      'revokeAll',
    );
    for (const handle of handles) this.events.emit({ type: 'revoked', handle, userId, at: this.now(), reason: 'revoked' });
    return handles;
  }

  /**
   * Pushes a changed principal (new roles, new auth version) to every live
   * session of that user; each picks it up, with a new id, at its next request.
   */
  async refreshPrincipal(principal: Principal): Promise<number> {
    return this.call(this.store.refreshPrincipal(principal), 'refreshPrincipal');
  }

  /** Subscribes to revocations from every process sharing the store (WebSocket disconnects). */
  onRevoked(listener: (handles: readonly string[]) => void): Promise<() => Promise<void>> {
    return this.store.onRevoked(listener);
  }

  /**
   * The store's health for readiness probes (`GET /health`): `ping`, bounded
   * by `storeTimeout` like every store call. Never throws: an unreachable or
   * hung store is `{ store: 'down' }` within the timeout.
   */
  async health(): Promise<StoreHealth> {
    try {
      await this.call(this.store.ping(), 'ping');
      return { store: 'up' };
    } catch {
      return { store: 'down' };
    }
  }

  // ——— used by Session ———

  /** @internal */
  sign(token: string): string {
    return this.options.signer.sign(token);
  }

  /** @internal A fresh token and its store id. */
  newIdentity(): { token: string; id: string } {
    const token = this.options.signer.newToken(this.options.random);
    return { token, id: sessionIdOf(token) };
  }

  /** @internal A new record with the limits that fit `remember`. */
  newRecord(client: ClientInfo, principal: Principal | null, remember: boolean): { record: SessionRecord; token: string } {
    const { token, id } = this.newIdentity();
    const now = this.now();
    const idleTimeout = remember ? this.options.rememberIdleTimeoutMs : this.options.idleTimeoutMs;
    const absoluteExpiresAt = now + (remember ? this.options.rememberAbsoluteTimeoutMs : this.options.absoluteTimeoutMs);
    const record: SessionRecord = {
      id,
      handle: Buffer.from(this.options.random(16)).toString('base64url'),
      principal,
      data: {},
      createdAt: now,
      lastSeenAt: now,
      authenticatedAt: principal ? now : null,
      idleTimeout,
      idleExpiresAt: Math.min(now + idleTimeout, absoluteExpiresAt),
      absoluteExpiresAt,
      remember,
      rotationDue: false,
      userAgent: client.userAgent,
      ip: client.ip,
    };
    return { record, token };
  }

  /** @internal Seconds for a persistent cookie (remember me), undefined for a browser-session cookie. */
  cookieMaxAge(record: SessionRecord): number | undefined {
    return record.remember ? Math.floor((record.absoluteExpiresAt - this.now()) / 1000) : undefined;
  }

  /** @internal The live record stored under `id` (touched as a load touches it), or null. */
  async findRecord(id: string): Promise<SessionRecord | null> {
    const now = this.now();
    const record = await this.call(this.store.find(id, now, this.options.touchIntervalMs), 'find');
    return record && isLive(record, now) ? record : null;
  }

  /** @internal */
  async createRecord(record: SessionRecord): Promise<void> {
    await this.call(this.store.create(record), 'create');
    this.emit('created', record);
  }

  /** @internal */
  updateRecord(id: string, patch: SessionPatch): Promise<boolean> {
    return this.call(this.store.update(id, patch), 'update');
  }

  /** @internal False when `previous` was already gone (nothing stored then). */
  async rotateRecord(previous: SessionRecord, next: SessionRecord): Promise<boolean> {
    const rotated = await this.call(this.store.rotate(previous.id, next), 'rotate');
    if (rotated) this.emit('rotated', next);
    return rotated;
  }

  /** @internal */
  async destroyRecord(record: SessionRecord): Promise<void> {
    if (await this.call(this.store.destroy(record.id), 'destroy')) this.emit('destroyed', record);
  }

  /** @internal Applies the per-user session limit before a sign-in. */
  async makeRoomFor(userId: string, currentId: string | undefined): Promise<void> {
    const limit = this.options.maxSessionsPerUser;
    if (limit === Infinity) return;
    const others = (await this.call(this.store.listByUser(userId, this.now()), 'listByUser')).filter(
      (record) => record.id !== currentId,
    );
    const excess = others.length - limit + 1;
    if (excess <= 0) return;
    if (this.options.sessionLimitMode === 'refuse') throw new SessionLimitError(limit);
    for (const oldest of others.slice(0, excess)) {
      if (await this.call(this.store.destroy(oldest.id), 'destroy')) this.emit('revoked', oldest, 'session-limit');
    }
  }

  private presentedToken(request: RequestInfo): { value: string; transport: Transport } | null {
    if (this.options.bearer && request.authorization) {
      const match = BEARER.exec(request.authorization);
      if (match) return { value: match[1] as string, transport: 'bearer' };
    }
    const value = readCookie(request.cookieHeader, this.cookieName(request.secure));
    return value === null ? null : { value, transport: 'cookie' };
  }

  /** Roles changed elsewhere: cookie sessions move to a new id now; bearer tokens keep theirs. */
  private async applyRefreshedPrincipal(session: Session, record: SessionRecord): Promise<void> {
    try {
      if (session.transport === 'bearer') {
        await this.updateRecord(record.id, { rotationDue: false });
      } else {
        await session.rotate();
      }
    } catch (error) {
      if (!(error instanceof StoreUnavailableError)) throw error;
      // The refreshed principal is already in the record; the rotation is retried next request.
    }
  }

  /** @internal Whether cookies get `Secure` for a request over `requestSecure` (the `cookie.secure` option, `'auto'` resolved). */
  cookieSecure(requestSecure: boolean): boolean {
    const setting = this.options.cookie.secure;
    return setting === 'auto' ? requestSecure : setting;
  }

  private call<T>(operation: Promise<T>, what: string): Promise<T> {
    return withDeadline(operation, this.options.storeTimeoutMs, what);
  }

  private emit(type: SessionEventType, record: SessionRecord, reason?: string): void {
    this.events.emit({
      type,
      handle: record.handle,
      userId: record.principal?.id ?? null,
      at: this.now(),
      ...(reason ? { reason } : {}),
    });
  }
}

/**
 * The cache for `store`, or null: on when the store's invalidation is exact
 * (`exclusive`, `in-write`); for `after-commit` only when asked to accept the
 * delay; never for a store that does not say how it invalidates (asking for
 * one there is refused: it would serve signed-out sessions).
 */
function cacheFor(store: SessionStore, cache: ResolvedCache | false, explicit: boolean): SessionCache | null {
  if (cache === false) return null;
  const mode = store.coherence?.mode;
  if (mode === undefined) {
    if (explicit) {
      throw new InvalidOptionsError(
        'keycard: cache is set, but this store does not declare how other processes\' writes reach a cached record ' +
          '(SessionStore.coherence); a cache would accept sessions signed out elsewhere. Remove the cache option.',
      );
    }
    return null;
  }
  if (mode === 'after-commit' && !cache.acceptDelayedInvalidation) return null;
  return new SessionCache(cache);
}

function toInfo(record: SessionRecord): SessionInfo {
  return {
    handle: record.handle,
    createdAt: record.createdAt,
    lastSeenAt: record.lastSeenAt,
    authenticatedAt: record.authenticatedAt,
    expiresAt: expiresAt(record),
    remember: record.remember,
    userAgent: record.userAgent,
    ip: record.ip,
  };
}
