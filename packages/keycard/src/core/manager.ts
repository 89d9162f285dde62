import { serializeCookie } from './cookie.js';
import { readCookie } from './cookie.js';
import { withDeadline } from './deadline.js';
import { SessionLimitError, StoreUnavailableError, WriteNotDurableError } from './errors.js';
import { SessionEvents, type EventTransport, type SessionEventType } from './events.js';
import { Observers, type StoreCallOutcome } from './observe.js';
import { traced } from './tracing.js';
import { resolveOptions, type ResolvedOptions, type SessionOptions } from './options.js';
import { expiresAt, isLive, type Principal, type SessionPatch, type SessionRecord } from './record.js';
import { Session, type ClientInfo, type Transport } from './session.js';
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
  /** Store calls and cache lookups, for metrics (see `keycard/metrics`). */
  readonly observers = new Observers();
  private readonly verified: VerifiedTokenCache;

  constructor(options: SessionOptions) {
    this.options = resolveOptions(options);
    this.verified = new VerifiedTokenCache(this.options.signer);
    this.options.store.configure?.({ storeTimeoutMs: this.options.storeTimeoutMs });
  }

  get store() {
    return this.options.store;
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
  load(request: RequestInfo): Promise<Session> {
    return traced('keycard.session.load', {}, () => this.loadSession(request));
  }

  private async loadSession(request: RequestInfo): Promise<Session> {
    const presented = this.presentedToken(request);
    if (!presented) return new Session(this, null, request, null);
    const verified = this.verified.verify(presented.value);
    if (!verified) return new Session(this, presented.transport, request, null);
    const now = this.now();
    let record: SessionRecord | null;
    try {
      record = await this.call(() => this.store.find(verified.id, now, this.options.touchIntervalMs), 'find');
    } catch (error) {
      if (error instanceof StoreUnavailableError) {
        this.events.emit({
          type: 'storeUnavailable',
          handle: null,
          userId: null,
          at: this.now(),
          reason: 'find',
          transport: presented.transport,
          ip: request.ip ?? null,
          userAgent: request.userAgent ?? null,
        });
        return new Session(this, presented.transport, request, null, error);
      }
      throw error;
    }
    if (!record) return new Session(this, presented.transport, request, null);
    if (!isLive(record, now)) {
      this.emit('expired', record, undefined, presented.transport);
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
  commit(session: Session, requestSecure: boolean): Promise<ResponseHeaders> {
    return traced('keycard.session.commit', {}, () => this.commitSession(session, requestSecure));
  }

  private async commitSession(session: Session, requestSecure: boolean): Promise<ResponseHeaders> {
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
    const records = await this.call(() => this.store.listByUser(userId, this.now()), 'listByUser');
    return records.map(toInfo);
  }

  /** Ends one of the user's sessions by its public handle; false when it is not theirs or not live. */
  async revokeSession(userId: string, handle: string): Promise<boolean> {
    const records = await this.call(() => this.store.listByUser(userId, this.now()), 'listByUser');
    const target = records.find((record) => record.handle === handle);
    if (!target) return false;
    const destroyed = await this.call(() => this.store.destroy(target.id), 'destroy');
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
      () => this.store.revokeAll(userId, keep?.principal?.id === userId ? keep.id : undefined),
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
    return this.call(() => this.store.refreshPrincipal(principal), 'refreshPrincipal');
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
      await this.call(() => this.store.ping(), 'ping');
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
  async revocationHealth(): Promise<'up' | 'down' | 'off'> {
    const probe = this.store.probeRevocations?.bind(this.store);
    if (!probe) return 'off';
    try {
      return await withDeadline(probe(this.options.storeTimeoutMs), this.options.storeTimeoutMs, 'probeRevocations');
    } catch {
      return 'down';
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
    const record = await this.call(() => this.store.find(id, now, this.options.touchIntervalMs), 'find');
    return record && isLive(record, now) ? record : null;
  }

  /** @internal */
  async createRecord(record: SessionRecord, transport?: EventTransport | null): Promise<void> {
    await this.call(() => this.store.create(record), 'create');
    this.emit('created', record, undefined, transport);
  }

  /** @internal A sign-in has taken effect on `record` (new or rotated in). */
  signedIn(record: SessionRecord, transport?: EventTransport | null): void {
    this.emit('signedIn', record, undefined, transport);
  }

  /** @internal */
  updateRecord(id: string, patch: SessionPatch): Promise<boolean> {
    return this.call(() => this.store.update(id, patch), 'update');
  }

  /** @internal False when `previous` was already gone (nothing stored then). */
  async rotateRecord(previous: SessionRecord, next: SessionRecord, transport?: EventTransport | null): Promise<boolean> {
    const rotated = await this.call(() => this.store.rotate(previous.id, next), 'rotate');
    if (rotated) this.emit('rotated', next, undefined, transport);
    return rotated;
  }

  /** @internal */
  async destroyRecord(record: SessionRecord, transport?: EventTransport | null): Promise<void> {
    if (await this.call(() => this.store.destroy(record.id), 'destroy')) this.emit('destroyed', record, undefined, transport);
  }

  /** @internal Applies the per-user session limit before a sign-in. */
  async makeRoomFor(userId: string, currentId: string | undefined): Promise<void> {
    const limit = this.options.maxSessionsPerUser;
    if (limit === Infinity) return;
    const others = (await this.call(() => this.store.listByUser(userId, this.now()), 'listByUser')).filter(
      (record) => record.id !== currentId,
    );
    const excess = others.length - limit + 1;
    if (excess <= 0) return;
    if (this.options.sessionLimitMode === 'refuse') throw new SessionLimitError(limit);
    for (const oldest of others.slice(0, excess)) {
      if (await this.call(() => this.store.destroy(oldest.id), 'destroy')) this.emit('revoked', oldest, 'session-limit');
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

  /**
   * Every store call: bounded by `storeTimeout`, in a span when OpenTelemetry
   * records, timed for `observers`, and reported as a `storeUnavailable`
   * event when it fails.
   */
  private call<T>(operation: () => Promise<T>, what: string): Promise<T> {
    const observed = this.observers.observingStoreCalls;
    const started = observed ? performance.now() : 0;
    const result = traced(`keycard.store.${what}`, { 'keycard.store.operation': what }, () =>
      withDeadline(operation(), this.options.storeTimeoutMs, what),
    );
    if (!observed) return result.catch((error: unknown) => this.failed(error, what));
    return result.then(
      (value) => {
        this.observers.storeCall({ operation: what, outcome: 'ok', seconds: (performance.now() - started) / 1000 });
        return value;
      },
      (error: unknown) => {
        const elapsed = performance.now() - started;
        this.observers.storeCall({ operation: what, outcome: outcomeOf(error, elapsed >= this.options.storeTimeoutMs), seconds: elapsed / 1000 });
        return this.failed(error, what);
      },
    );
  }

  /** Reports a store failure (except `find`, which `load` reports with the request's details) and rethrows. */
  private failed(error: unknown, what: string): never {
    if (error instanceof StoreUnavailableError && what !== 'find') {
      this.events.emit({ type: 'storeUnavailable', handle: null, userId: null, at: this.now(), reason: what });
    }
    throw error;
  }

  private emit(type: SessionEventType, record: SessionRecord, reason?: string, transport?: EventTransport | null): void {
    this.events.emit({
      type,
      handle: record.handle,
      userId: record.principal?.id ?? null,
      at: this.now(),
      ...(reason ? { reason } : {}),
      ...(transport ? { transport } : {}),
      ip: record.ip,
      userAgent: record.userAgent,
    });
  }
}

function outcomeOf(error: unknown, pastDeadline: boolean): StoreCallOutcome {
  if (error instanceof WriteNotDurableError) return 'not_durable';
  return pastDeadline ? 'timeout' : 'unavailable';
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
