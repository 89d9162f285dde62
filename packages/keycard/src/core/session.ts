import { clientAddress } from './address.js';
import { InvalidSessionValueError, type StoreUnavailableError } from './errors.js';
import { isLive, type JsonValue, type Principal, type SessionData, type SessionPatch, type SessionRecord } from './record.js';
import type { ClientInfo, SessionRecords } from './records.js';
import type { CookieAction, SessionCookie, Transport } from './session-cookie.js';
import { FLASH_KEY, appended, checkedFlash, flashValue, flashesIn, type FlashCookie, type FlashMessage } from './flash.js';

export interface SignInOptions {
  /** "Remember me": persistent cookie and the longer limits. Default false. */
  readonly remember?: boolean;
  /** Carry the anonymous session's data into the signed-in one. Default true. */
  readonly keepData?: boolean;
}

export interface RotateOptions {
  /** Keep the data under the new id (default) or start empty. */
  readonly keepData?: boolean;
}

/** @internal What every Session of one manager works with. */
export interface SessionContext {
  readonly records: SessionRecords;
  readonly cookie: SessionCookie;
}

/** @internal The request a session belongs to, as `SessionManager.load` read it (once). */
export interface SessionRequest {
  /** How the request presented the session; null when it presented none. */
  readonly transport: Transport | null;
  /** The request came over HTTPS, as the platform's trust-proxy setting saw it. */
  readonly secure: boolean;
  /** The request's raw device facts, possibly getters (read on first use only). */
  readonly client: { readonly userAgent?: string | undefined; readonly ip?: string | undefined };
}

const USER_AGENT_MAX = 512;

type PendingCookie = 'none' | 'set' | 'clear' | 'sign-out';

/**
 * One request's view of its session. Reads are synchronous; writes are
 * recorded per key and stored by `commit` before the response is sent.
 * Rotation and sign-out reach the store at once, so an old id is dead before
 * the handler goes on.
 */
export class Session {
  /** The record as the store has it, or as it will be created at commit; null when there is none. */
  private record: SessionRecord | null;
  /** Whether `record` exists in the store (false: created lazily at commit). */
  private stored: boolean;
  private token: string | null;
  private data: SessionData;
  /** Explicit writes since the last save: a JSON value, or undefined for a removal. */
  private readonly changes = new Map<string, JsonValue | undefined>();
  /** Object values handed out by `get`, with their JSON at the time, to catch in-place mutation. */
  private readonly watched = new Map<string, string>();
  private pendingCookie: PendingCookie = 'none';

  /** Read from the request on first use: most requests never create a session that records it. */
  private clientInfo: ClientInfo | null = null;
  /** Where flashes go while there is no session (the binding's signed cookie); null: into a new session. */
  private flashCookie: FlashCookie | null = null;

  /** How the request presented the session; null when it presented none. */
  readonly transport: Transport | null;
  /**
   * The request came over HTTPS, as the platform's trust-proxy setting saw it
   * when the session was loaded. It decides the cookie's name and `Secure`
   * flag (under `cookie.secure: 'auto'`) for the whole request.
   */
  readonly secure: boolean;
  private readonly records: SessionRecords;
  private readonly cookie: SessionCookie;
  private readonly clientSource: SessionRequest['client'];

  /** @internal Sessions come from `SessionManager.load`. */
  constructor(
    context: SessionContext,
    request: SessionRequest,
    state: { readonly record: SessionRecord; readonly token: string } | null,
    private readonly failure: StoreUnavailableError | null = null,
  ) {
    this.records = context.records;
    this.cookie = context.cookie;
    this.transport = request.transport;
    this.secure = request.secure;
    this.clientSource = request.client;
    this.record = state?.record ?? null;
    this.token = state?.token ?? null;
    this.stored = state !== null;
    this.data = state ? { ...state.record.data } : {};
  }

  /** The requesting device, as a new session records it (user agent truncated to 512 characters). */
  get client(): ClientInfo {
    if (this.clientInfo === null) {
      const userAgent = this.clientSource.userAgent;
      // An address that does not parse as an IP (whatever reached X-Forwarded-For) is not recorded.
      this.clientInfo = { userAgent: userAgent ? userAgent.slice(0, USER_AGENT_MAX) : null, ip: clientAddress(this.clientSource.ip) };
    }
    return this.clientInfo;
  }

  /** False when the store could not be reached; every read then throws StoreUnavailableError. */
  get available(): boolean {
    return this.failure === null;
  }

  /**
   * @internal Whether `SessionManager.commit` has anything to store or a
   * header to produce: a new session, explicit writes, object values handed
   * out by `get` (they may have been changed in place), or a cookie to set or
   * clear. False for the common authenticated read, which then skips the commit.
   */
  needsCommit(): boolean {
    if (this.failure !== null) return false;
    if (this.pendingCookie !== 'none') return true;
    return this.record !== null && (!this.stored || this.changes.size > 0 || this.watched.size > 0);
  }

  /** Public handle for device lists; null while there is no session. */
  get handle(): string | null {
    return this.current()?.handle ?? null;
  }

  get principal(): Principal | null {
    return this.current()?.principal ?? null;
  }

  get isAuthenticated(): boolean {
    return this.principal !== null;
  }

  /** When the principal last proved who they are (milliseconds since the epoch). */
  get authenticatedAt(): number | null {
    return this.current()?.authenticatedAt ?? null;
  }

  get remember(): boolean {
    return this.current()?.remember ?? false;
  }

  /** The session as stored (with pending data), or null. */
  get snapshot(): SessionRecord | null {
    const record = this.current();
    return record ? { ...record, data: { ...this.data } } : null;
  }

  get<T extends JsonValue = JsonValue>(key: string): T | undefined {
    this.current();
    if (!Object.hasOwn(this.data, key)) return undefined;
    const value = this.data[key];
    if (value !== null && typeof value === 'object' && !this.changes.has(key) && !this.watched.has(key)) {
      this.watched.set(key, JSON.stringify(value));
    }
    return value as T;
  }

  has(key: string): boolean {
    this.current();
    return Object.hasOwn(this.data, key);
  }

  keys(): string[] {
    this.current();
    return Object.keys(this.data);
  }

  /** Records a write of one key (JSON values only); it is stored at commit. The first write creates the session. */
  set(key: string, value: JsonValue): void {
    this.current();
    let json: string | undefined;
    try {
      json = JSON.stringify(value);
    } catch {
      throw new InvalidSessionValueError(`the value for session key "${key}" cannot be serialised`);
    }
    if (json === undefined) throw new InvalidSessionValueError(`the value for session key "${key}" is not JSON`);
    if (!this.record) this.startAnonymous();
    this.data[key] = value;
    this.changes.set(key, value);
    this.watched.delete(key);
  }

  delete(key: string): void {
    this.current();
    if (!Object.hasOwn(this.data, key)) return;
    delete this.data[key];
    this.changes.set(key, undefined);
    this.watched.delete(key);
  }

  /**
   * Adds a one-time message for the next page read (it survives a redirect).
   * Kept in the session when there is one; otherwise in a signed cookie, so
   * that an anonymous visitor's flash starts no session. `type` is a short
   * kind ('success', 'info', 'error'); `message` at most 500 characters.
   */
  flash(type: string, message: string): void {
    const next = checkedFlash(type, message);
    if (this.current() === null && this.flashCookie !== null) {
      this.flashCookie.write(appended(this.flashCookie.read(), next));
      return;
    }
    this.set(FLASH_KEY, flashValue(appended(flashesIn(this.data[FLASH_KEY]), next)));
  }

  /** The pending flash messages, oldest first, removed as they are read: each is shown once. */
  flashes(): FlashMessage[] {
    const record = this.current();
    let stored: FlashMessage[] = [];
    if (record !== null && Object.hasOwn(this.data, FLASH_KEY)) {
      stored = flashesIn(this.data[FLASH_KEY]);
      this.delete(FLASH_KEY);
    }
    const fromCookie = this.flashCookie?.read() ?? [];
    if (fromCookie.length > 0) this.flashCookie?.clear();
    return [...fromCookie, ...stored];
  }

  /** @internal The binding's signed flash cookie, for requests without a session. */
  useFlashCookie(cookie: FlashCookie): void {
    this.flashCookie = cookie;
  }

  /**
   * A new id at once, keeping or dropping the data; the old id is dead when
   * this resolves. An anonymous session left empty is simply ended. If another
   * request ended the session meanwhile, it stays ended.
   */
  async rotate(options: RotateOptions = {}): Promise<void> {
    const record = this.current();
    if (!record) return;
    const data = (options.keepData ?? true) ? { ...this.data } : {};
    if (record.principal === null && Object.keys(data).length === 0) {
      await this.end('clear');
      return;
    }
    const { token, id } = this.cookie.issue();
    const next: SessionRecord = { ...record, id, data, rotationDue: false, lastSeenAt: this.records.now() };
    if (this.stored && !(await this.records.rotate(record, next, this.transport))) {
      this.forget();
      return;
    }
    this.adopt(next, token, true);
  }

  /**
   * Signs `principal` in: always under a new id (fixation defence), with the
   * previous id dead at once and the per-user session limit applied. The new
   * session is stored at commit.
   */
  async signIn(principal: Principal, options: SignInOptions = {}): Promise<void> {
    const record = this.current();
    if (record?.principal && record.principal.id !== principal.id) {
      // Another user on this browser: end the previous user's session (its sockets close,
      // its device entry goes) rather than handing its handle and data to the new user.
      await this.end('clear');
      return this.signIn(principal, { ...options, keepData: false });
    }
    const previous = this.stored ? record : null;
    await this.records.makeRoomFor(principal.id, previous?.id);
    const { token, id } = this.cookie.issue();
    const base = this.records.newRecord(id, this.client, principal, options.remember ?? false);
    const keep = options.keepData ?? true;
    const next: SessionRecord = { ...base, handle: record?.handle ?? base.handle, data: keep ? { ...this.data } : {} };
    const stored = previous ? await this.records.rotate(previous, next, this.transport) : false;
    // A session ended elsewhere meanwhile gives up its data; the sign-in itself stands.
    this.adopt(stored || !previous ? next : { ...next, data: {} }, token, stored);
    this.records.signedIn(next, this.transport);
  }


  /** Ends the session in the store and clears the cookie (with Clear-Site-Data). */
  async signOut(): Promise<void> {
    this.current();
    await this.end('sign-out');
  }

  /**
   * Re-reads the data from the store, dropping this request's unsaved writes
   * (express-session's `reload`, for the passport compatibility layer). False
   * when the store no longer has the session (ended elsewhere, or never
   * saved); it is then anonymous.
   */
  async reload(): Promise<boolean> {
    const record = this.current();
    const fresh = record && this.stored ? await this.findLive(record.id) : null;
    if (!fresh) {
      this.forget();
      return false;
    }
    this.record = fresh;
    this.data = { ...fresh.data };
    this.changes.clear();
    this.watched.clear();
    return true;
  }

  /**
   * Stores what is pending now: creates a new session, or writes only the
   * changed keys. `SessionManager.commit` calls it before the response; call
   * it yourself only to store mid-request (it sets no header).
   */
  async save(): Promise<void> {
    const record = this.current();
    if (!record) return;
    if (!this.stored) {
      const created: SessionRecord = { ...record, data: { ...this.data } };
      this.changes.clear();
      this.watched.clear();
      await this.records.create(created, this.transport);
      this.record = created;
      this.stored = true;
      return;
    }
    const patch = this.takePatch();
    if (!patch) return;
    if (!(await this.records.update(record.id, patch))) this.forget();
    // A sealed session's record is its cookie: a change is a new cookie.
    else if (this.cookie.carriesRecord) this.pendingCookie = 'set';
  }

  /**
   * @internal What the response must do with the cookie, after `save`, once:
   * the headers go out with this commit, so a later commit of the same
   * request (an explicit `save()`, then the end of the request) does not
   * produce them again.
   */
  takeCookieAction(): CookieAction {
    const action = this.cookieAction();
    this.pendingCookie = 'none';
    return action;
  }

  /**
   * @internal Whether a commit now would put a cookie on the response (a
   * rotation or re-signing while loading), without signing anything.
   */
  hasCookieToSend(): boolean {
    return this.pendingCookieKind() !== 'none';
  }

  private cookieAction(): CookieAction {
    switch (this.pendingCookieKind()) {
      case 'set':
        return {
          kind: 'set',
          signedToken: this.cookie.valueFor(this.token as string, { ...(this.record as SessionRecord), data: { ...this.data } }, this.secure),
          maxAgeSeconds: this.cookie.maxAge(this.record as SessionRecord, this.records.now()),
        };
      case 'clear':
        return { kind: 'clear', clearSiteData: false };
      case 'clear-site-data':
        return { kind: 'clear', clearSiteData: true };
      default:
        return { kind: 'none' };
    }
  }

  /** What the pending cookie change amounts to for this session's transport. */
  private pendingCookieKind(): 'none' | 'set' | 'clear' | 'clear-site-data' {
    switch (this.pendingCookie) {
      case 'set':
        return this.stored && this.token !== null && this.record && this.transport !== 'bearer' ? 'set' : 'none';
      case 'clear':
        return this.transport === 'cookie' ? 'clear' : 'none';
      case 'sign-out':
        return 'clear-site-data';
      default:
        return 'none';
    }
  }

  /** @internal The cookie was signed with an older secret: send it again under the current one. */
  reissueCookie(): void {
    this.pendingCookie = 'set';
  }

  /**
   * @internal A sealed session that survives its user's revocation epoch
   * (the caller of "sign out everywhere else", a password change): its
   * sign-in time moves to `at` and the cookie is re-issued.
   */
  reauthenticated(at: number): void {
    if (this.record === null || this.record.principal === null) return;
    this.record = { ...this.record, authenticatedAt: at };
    this.pendingCookie = 'set';
  }

  /** The live record under `id`, touched as a load touches it, or null. */
  private async findLive(id: string): Promise<SessionRecord | null> {
    const now = this.records.now();
    const record = await this.records.find(id, now);
    return record && isLive(record, now) ? record : null;
  }

  private current(): SessionRecord | null {
    if (this.failure) throw this.failure;
    return this.record;
  }

  private takePatch(): SessionPatch | null {
    const set: Record<string, JsonValue> = {};
    const unset: string[] = [];
    for (const [key, value] of this.changes) {
      if (value === undefined) unset.push(key);
      else set[key] = value;
    }
    for (const [key, json] of this.watched) {
      const value = this.data[key];
      if (value !== undefined && JSON.stringify(value) !== json) set[key] = value;
    }
    this.changes.clear();
    this.watched.clear();
    return unset.length > 0 || Object.keys(set).length > 0 ? { set, unset } : null;
  }

  private startAnonymous(): void {
    const { token, id } = this.cookie.issue();
    this.adopt(this.records.newRecord(id, this.client, null, false), token, false);
  }

  private adopt(record: SessionRecord, token: string, stored: boolean): void {
    this.record = record;
    this.token = token;
    this.stored = stored;
    this.data = { ...record.data };
    this.changes.clear();
    this.watched.clear();
    this.pendingCookie = 'set';
  }

  private async end(cookie: 'clear' | 'sign-out'): Promise<void> {
    if (this.record && this.stored) await this.records.destroy(this.record, this.transport);
    this.forget();
    this.pendingCookie = cookie;
  }

  /** The session is gone (ended here or elsewhere); nothing of it may be written again. */
  private forget(): void {
    this.record = null;
    this.stored = false;
    this.token = null;
    this.data = {};
    this.changes.clear();
    this.watched.clear();
    if (this.pendingCookie === 'set') this.pendingCookie = 'none';
  }
}
