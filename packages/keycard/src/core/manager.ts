import { clientAddress } from './address.js';
import { InvalidOptionsError, StoreUnavailableError, UnsupportedOperationError } from './errors.js';
import { SessionEvents } from './events.js';
import { Observers } from './observe.js';
import { traced } from './tracing.js';
import { resolveOptions, type ResolvedOptions, type SessionOptions } from './options.js';
import { CachedStore } from './cached-store.js';
import { SessionCache, type CacheStats } from './session-cache.js';
import type { RevocationListener, SessionStore } from './store.js';
import { expiresAt, isLive, touchDue, touched, type Principal, type SessionRecord } from './record.js';
import { readCookie } from './cookie.js';
import { withDeadline } from './deadline.js';
import type { RevocationStore } from './revocation.js';
import { SealedSessionCookie } from './sealed-session-cookie.js';
import { SessionRecords, type ClientInfo } from './records.js';
import { Session, type SessionContext } from './session.js';
import { SessionCookie, type RequestInfo, type ResponseHeaders } from './session-cookie.js';

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

/**
 * The session engine: reads a request's session (one store round trip, touch
 * included), enforces idle and absolute timeouts, and turns a request's
 * changes into store writes and response headers; plus the per-user
 * operations (list, revoke, refresh). Framework-free: bindings hand it a
 * `RequestInfo` and copy the `ResponseHeaders` it returns.
 *
 * Below it: `Session` (one request's view), `SessionRecords` (store calls
 * under the deadline, events, the per-user limit) and `SessionCookie` (the
 * token on the wire).
 */
export class SessionManager {
  readonly options: ResolvedOptions;
  readonly events = new SessionEvents();
  /** Store calls and cache lookups, for metrics (see `keycard/metrics`). */
  readonly observers = new Observers();
  private readonly cache: SessionCache | null;
  private readonly records: SessionRecords;
  private readonly cookie: SessionCookie;
  private readonly context: SessionContext;

  /** `options.store` is required here (e.g. `new MemoryStore()` from 'keycard'); `SessionModule` defaults it. */
  constructor(options: SessionOptions) {
    const resolved = resolveOptions(options);
    this.cache = cacheFor(resolved, options.cache !== undefined);
    // Every store call below goes through the cache when it is on; `options.store` is then the cached store.
    this.options =
      this.cache === null
        ? resolved
        : { ...resolved, store: new CachedStore(resolved.store, this.cache, (lookup) => this.observers.cacheLookup(lookup)) };
    this.records = new SessionRecords(this.options, this.events, this.observers);
    this.cookie = this.options.sealed ? new SealedSessionCookie(this.options) : new SessionCookie(this.options);
    this.context = { records: this.records, cookie: this.cookie };
    this.options.store.configure?.({ storeTimeoutMs: this.options.storeTimeoutMs });
  }

  /** The store every call goes through: the configured one, behind the session cache when that is on. */
  get store(): SessionStore {
    return this.options.store;
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
    return this.cookie.nameFor(requestSecure);
  }

  /** Whether cookies get `Secure` for a request over `requestSecure` (the `cookie.secure` option, `'auto'` resolved). */
  cookieSecure(requestSecure: boolean): boolean {
    return this.cookie.secureFor(requestSecure);
  }

  /**
   * The request's session. Never throws: a missing, forged or expired token
   * gives an anonymous session (no store call for a bad signature), and a store
   * outage gives a session whose reads throw StoreUnavailableError, so that
   * routes that do not use the session keep working.
   */
  load(request: RequestInfo): Promise<Session> {
    return traced('keycard.session.load', {}, () => this.loadSession(request));
  }

  private async loadSession(request: RequestInfo): Promise<Session> {
    if (this.options.sealed) return this.loadSealed(request, this.options.sealed.revocation);
    const secure = request.secure === true;
    const presented = this.cookie.read(request, secure);
    const transport = presented?.transport ?? null;
    const anonymous = (failure: StoreUnavailableError | null = null): Session =>
      new Session(this.context, { transport, secure, client: request }, null, failure);
    const verified = presented?.verified;
    if (!presented || !verified) return anonymous();
    const now = this.now();
    let record: SessionRecord | null;
    try {
      record = await this.records.find(verified.id, now);
    } catch (error) {
      if (error instanceof StoreUnavailableError) {
        this.records.unavailableOnLoad(presented.transport, request);
        return anonymous(error);
      }
      throw error;
    }
    if (!record) return anonymous();
    if (!isLive(record, now)) {
      this.records.expire(record, presented.transport);
      return anonymous();
    }
    const session = new Session(this.context, { transport, secure, client: request }, { record, token: verified.token });
    if (record.rotationDue) {
      await this.applyRefreshedPrincipal(session, record);
    } else if (verified.stale && transport === 'cookie') {
      session.reissueCookie();
    }
    return session;
  }

  /**
   * A sealed-cookie session: the record comes out of the cookie. Its sealed
   * timestamps decide idle and absolute expiry; a signed-in one is checked
   * against the revocation store (one round trip) when there is one.
   */
  private async loadSealed(request: RequestInfo, revocation: RevocationStore | null): Promise<Session> {
    const secure = request.secure === true;
    const cookie = this.cookie as SealedSessionCookie;
    const transport = readCookie(request.cookieHeader, cookie.nameFor(secure)) === null ? null : 'cookie';
    const anonymous = (failure: StoreUnavailableError | null = null): Session =>
      new Session(this.context, { transport, secure, client: request }, null, failure);
    const opened = transport === null ? null : cookie.open(request, secure);
    const now = this.now();
    if (!opened || !isLive(opened.record, now)) return anonymous();
    let record = opened.record;
    if (record.principal && revocation) {
      try {
        const state = await withDeadline(revocation.check(record.principal.id, record.id), this.options.storeTimeoutMs, 'check', 'revocation store');
        if (state.revoked || (record.authenticatedAt ?? 0) < state.epoch) return anonymous();
      } catch (error) {
        if (error instanceof StoreUnavailableError) return anonymous(error);
        throw error;
      }
    }
    const touch = touchDue(record, now, this.options.touchIntervalMs);
    if (touch) record = touched(record, now);
    const session = new Session(this.context, { transport, secure, client: request }, { record, token: record.id });
    if (touch || opened.stale) session.reissueCookie();
    return session;
  }

  /**
   * Stores the request's pending changes and returns the headers the response
   * must carry (for the request's `secure`, as read at load). Call it before
   * the response is sent, so that the next request can never outrun the write.
   */
  commit(session: Session): Promise<ResponseHeaders> {
    return traced('keycard.session.commit', {}, () => this.commitSession(session));
  }

  private async commitSession(session: Session): Promise<ResponseHeaders> {
    if (session.available) await session.save();
    return this.cookie.headers(session.takeCookieAction(), session.secure);
  }

  /** A signed-in session for a client without cookies; the token goes in `Authorization: Bearer`. */
  async issueToken(principal: Principal, client: Partial<ClientInfo> = {}): Promise<IssuedToken> {
    if (this.options.sealed) throw new UnsupportedOperationError('bearer tokens need a session store; sealed sessions travel only in their cookie');
    await this.records.makeRoomFor(principal.id, undefined);
    const { token, id } = this.cookie.issue();
    const record = this.records.newRecord(id, { userAgent: client.userAgent ?? null, ip: clientAddress(client.ip) }, principal, false);
    await this.records.create(record, null);
    return { token: this.cookie.sign(token), expiresAt: record.absoluteExpiresAt };
  }

  /** The user's live sessions, oldest first. */
  async listSessions(userId: string): Promise<SessionInfo[]> {
    return (await this.records.listByUser(userId)).map(toInfo);
  }

  /** Ends one of the user's sessions by its public handle; false when it is not theirs or not live. */
  async revokeSession(userId: string, handle: string): Promise<boolean> {
    const target = (await this.records.listByUser(userId)).find((record) => record.handle === handle);
    return target ? this.records.revoke(target, 'revoked') : false;
  }

  /**
   * Ends every session of a user (account disabled, deleted, password reset),
   * except `except` when given (the caller's own). Returns the ended handles.
   */
  async revokeAll(userId: string, except?: Session): Promise<string[]> {
    const keep = except?.snapshot;
    const kept = keep?.principal?.id === userId ? keep.id : undefined;
    const handles = await this.records.revokeAll(userId, kept);
    // Sealed sessions end by the user's epoch (set during the call above), which the kept one must outlive.
    if (this.options.sealed && kept !== undefined) except?.reauthenticated(this.now());
    return handles;
  }

  /**
   * Pushes a changed principal (new roles, new auth version) to every live
   * session of that user; each picks it up, with a new id, at its next request.
   */
  refreshPrincipal(principal: Principal): Promise<number> {
    return this.records.refreshPrincipal(principal);
  }

  /**
   * Sealed-cookie sessions: whether the sealed session `id` of `userId`,
   * signed in at `authenticatedAt`, was signed out or ended by the user's
   * revocation epoch (one revocation-store round trip, under `storeTimeout`).
   * False without a revocation store: nothing can end a copy of the cookie then.
   */
  async sealedSessionEnded(userId: string, id: string, authenticatedAt: number | null): Promise<boolean> {
    const revocation = this.options.sealed?.revocation;
    if (!revocation) return false;
    const state = await withDeadline(revocation.check(userId, id), this.options.storeTimeoutMs, 'check', 'revocation store');
    return state.revoked || (authenticatedAt ?? 0) < state.epoch;
  }

  /** Subscribes to revocations and principal refreshes from every process sharing the store (WebSocket disconnects and role changes). */
  onRevoked(listener: RevocationListener): Promise<() => Promise<void>> {
    return this.store.onRevoked(listener);
  }

  /**
   * The store's health for readiness probes (`GET /health`): `ping`, bounded
   * by `storeTimeout` like every store call. Never throws: an unreachable or
   * hung store is `{ store: 'down' }` within the timeout.
   */
  async health(): Promise<StoreHealth> {
    try {
      await this.records.ping();
      return { store: 'up' };
    } catch {
      return { store: 'down' };
    }
  }

  /**
   * Whether revocations from other processes reach this one (see
   * `SessionStore.probeRevocations`): 'up', 'off' (nothing here subscribes,
   * or the store cannot tell), or 'down' when the probe did not come back
   * within `storeTimeout`. Never throws.
   */
  revocationHealth(): Promise<'up' | 'down' | 'off'> {
    return this.records.probeRevocations();
  }

  /** Roles changed elsewhere: cookie sessions move to a new id now; bearer tokens keep theirs. */
  private async applyRefreshedPrincipal(session: Session, record: SessionRecord): Promise<void> {
    try {
      if (session.transport === 'bearer') {
        await this.records.update(record.id, { rotationDue: false });
      } else {
        await session.rotate();
      }
    } catch (error) {
      if (!(error instanceof StoreUnavailableError)) throw error;
      // The refreshed principal is already in the record; the rotation is retried next request.
    }
  }
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

/**
 * The cache for these options, or null: on when the store's invalidation is
 * exact (`exclusive`, `in-write`); for `after-commit` only when asked to
 * accept the delay (asking for one without accepting it is refused, rather
 * than silently giving none); never for a store that does not say how it
 * invalidates (asking for one there is refused: it would serve signed-out sessions), nor
 * for sealed-cookie sessions (the record is in the cookie already).
 */
function cacheFor(options: ResolvedOptions, explicit: boolean): SessionCache | null {
  const cache = options.cache;
  if (cache === false || options.sealed) return null;
  const mode = options.store.coherence?.mode;
  if (mode === undefined) {
    if (explicit) {
      throw new InvalidOptionsError(
        "keycard: cache is set, but this store does not declare how other processes' writes reach a cached record " +
          '(SessionStore.coherence); a cache would accept sessions signed out elsewhere. Remove the cache option.',
      );
    }
    return null;
  }
  if (mode === 'after-commit' && !cache.acceptDelayedInvalidation) {
    if (explicit) {
      throw new InvalidOptionsError(
        "keycard: cache is set, but this store's invalidations reach other processes only after the write committed " +
          '(PostgreSQL NOTIFY), so another instance could accept a signed-out session for that delay (docs/session-cache.md). ' +
          'Set cache: { acceptDelayedInvalidation: true } to accept it, or remove the cache option.',
      );
    }
    return null;
  }
  return new SessionCache(cache);
}
