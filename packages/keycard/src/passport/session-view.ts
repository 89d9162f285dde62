import type { SessionManager } from '../core/manager.js';
import { KeycardError } from '../core/errors.js';
import type { JsonValue, Principal } from '../core/record.js';
import type { Session } from '../core/session.js';

/** express-session's callback shape: called with an error, or with nothing on success. */
export type SessionCallback = (error?: unknown) => void;

/** `req.session.cookie`: what the session cookie looks like, for code that reads it. Writes to it change nothing. */
export interface SessionCookieView {
  readonly path: string;
  readonly domain: string | undefined;
  readonly secure: boolean;
  readonly httpOnly: boolean;
  readonly sameSite: 'lax' | 'strict' | 'none';
  /** Milliseconds left for a persistent ("remember me") cookie; null for a browser-session cookie. */
  readonly maxAge: number | null;
  readonly originalMaxAge: number | null;
  readonly expires: Date | null;
}

/**
 * An express-session-like `req.session` over the request's keycard Session:
 * session data as properties (`req.session.cart = [...]`, `delete
 * req.session.passport.user`), written through the Session's change
 * tracking, so only changed keys are stored and concurrent requests do not
 * overwrite each other. `id` is the session's public handle.
 */
export interface ExpressSessionView {
  readonly id: string;
  readonly cookie: SessionCookieView;
  /** Ends this session (the old id is dead at once) and starts an empty one; a new id is issued at the next write. */
  regenerate(callback?: SessionCallback): this;
  /** Stores pending writes now. Without a callback it does nothing: keycard stores them before the response anyway. */
  save(callback?: SessionCallback): this;
  /** Ends the session in the store and clears its cookie. */
  destroy(callback?: SessionCallback): this;
  /** Re-reads the data from the store, dropping unsaved writes; an error when the session is gone. */
  reload(callback?: SessionCallback): this;
  /** Does nothing: keycard extends the idle expiry when it loads the session. */
  touch(): this;
  /** Does nothing: cookie lifetimes follow the session's limits ("remember me" at sign-in). */
  resetMaxAge(): this;
  [key: string]: unknown;
}

/** `reload` found the session gone from the store (ended elsewhere, or never saved). */
export class SessionGoneError extends KeycardError {
  constructor() {
    // express-session's wording, which code written for it may test for.
    super('KEYCARD_SESSION_GONE', 'failed to load session');
  }
}

/** What a view needs from the request it belongs to. */
export interface ViewContext {
  readonly session: Session;
  readonly manager: SessionManager;
  /** Where passport keeps its login in the session. */
  readonly passportKey: string;
  /** Maps passport's serialized user to a keycard principal; null: no mapping. */
  readonly principalOf: ((serialized: JsonValue) => Principal | null) | null;
  /** Makes `view` the request's `req.session` (after regenerate and destroy, as express-session does). */
  install(view: ExpressSessionView): void;
  /**
   * Runs `task` after every earlier operation of this request's views, so
   * that two of them never write the session at once, and reports its
   * outcome to `callback`; without a callback a failure is kept for the
   * interceptor, which fails the request with it.
   */
  enqueue(task: () => Promise<void>, callback: SessionCallback | undefined): void;
}

/** Names that are the view's own, never session data (as on express-session's Session). */
const OWN = new Set(['id', 'cookie', 'regenerate', 'save', 'destroy', 'reload', 'touch', 'resetMaxAge']);

function isRecord(value: unknown): value is { [key: string]: JsonValue } {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * What a view reads and writes: the live Session, or, once detached (after
 * `regenerate` or `destroy`), a copy of the data and id it had, whose writes
 * go nowhere, like express-session's old Session object.
 */
class ViewState {
  /** Set when detached: the data and id the session had. */
  private detached: { readonly data: Record<string, unknown>; readonly id: string } | null = null;

  constructor(readonly session: Session) {}

  get isDetached(): boolean {
    return this.detached !== null;
  }

  detach(): void {
    // A deep copy through JSON, as the store would keep it: the old view must not share objects with the new session.
    const data = JSON.parse(JSON.stringify(this.session.snapshot?.data ?? {})) as Record<string, unknown>;
    this.detached = { data, id: this.session.handle ?? '' };
  }

  id(): string {
    return this.detached ? this.detached.id : (this.session.handle ?? '');
  }

  read(key: string): unknown {
    if (this.detached) return Object.hasOwn(this.detached.data, key) ? this.detached.data[key] : undefined;
    return this.session.get(key);
  }

  has(key: string): boolean {
    return this.detached ? Object.hasOwn(this.detached.data, key) : this.session.has(key);
  }

  keys(): string[] {
    return this.detached ? Object.keys(this.detached.data) : this.session.keys();
  }

  write(key: string, value: unknown): void {
    if (this.detached) {
      if (value === undefined) delete this.detached.data[key];
      else this.detached.data[key] = value;
      return;
    }
    // express-session stores JSON, where an undefined property disappears.
    if (value === undefined) this.session.delete(key);
    // Session.set checks that the value is JSON and throws InvalidSessionValueError otherwise.
    else this.session.set(key, value as JsonValue);
  }

  remove(key: string): void {
    if (this.detached) delete this.detached.data[key];
    else this.session.delete(key);
  }
}

/** `req.session.cookie`: the session cookie's attributes as express-session code reads them. */
function cookieView(context: ViewContext, state: ViewState): SessionCookieView {
  const options = context.manager.options.cookie;
  const record = state.isDetached ? null : state.session.snapshot;
  const expiresAt = record?.remember ? record.absoluteExpiresAt : null;
  const maxAge = expiresAt === null ? null : Math.max(0, expiresAt - context.manager.now());
  return {
    path: options.path,
    domain: options.domain,
    // The request's own fact, read once when the session was loaded, through the one `'auto'` rule.
    secure: context.manager.cookieSecure(state.session.secure),
    httpOnly: true,
    sameSite: options.sameSite.toLowerCase() as SessionCookieView['sameSite'],
    maxAge,
    originalMaxAge: record?.remember ? record.absoluteExpiresAt - record.createdAt : null,
    expires: expiresAt === null ? null : new Date(expiresAt),
  };
}

/** Passport just stored a login: make the session's keycard principal that user (under a new id). */
async function adoptPassportLogin(context: ViewContext, session: Session): Promise<void> {
  if (context.principalOf === null) return;
  const login = session.get(context.passportKey);
  const serialized = isRecord(login) ? login['user'] : undefined;
  if (serialized === undefined || serialized === null) return;
  const principal = context.principalOf(serialized);
  if (principal === null || session.principal?.id === principal.id) return;
  await session.signIn(principal, { keepData: true });
}

type ViewMethods = Pick<ExpressSessionView, 'regenerate' | 'save' | 'destroy' | 'reload' | 'touch' | 'resetMaxAge'>;

/** express-session's Session methods, each queued on the request (see `ViewContext.enqueue`). */
function viewMethods(context: ViewContext, state: ViewState, view: () => ExpressSessionView): ViewMethods {
  const { session } = state;
  return {
    regenerate(callback) {
      context.enqueue(async () => {
        if (state.isDetached) return;
        const snapshot = session.snapshot;
        state.detach();
        // express-session's regenerate is "destroy, then start empty": a signed-in session is
        // signed out (a plain rotation would keep the principal), an anonymous one is ended.
        if (snapshot?.principal) await session.signOut();
        else await session.rotate({ keepData: false });
        context.install(createSessionView(context));
      }, callback);
      return view();
    },
    save(callback) {
      // Without a callback nobody waits for it: keycard stores the session before the response.
      if (callback === undefined) return view();
      context.enqueue(async () => {
        if (state.isDetached) return;
        await adoptPassportLogin(context, session);
        await session.save();
      }, callback);
      return view();
    },
    destroy(callback) {
      context.enqueue(async () => {
        if (state.isDetached) return;
        const existed = session.handle !== null;
        state.detach();
        if (existed) await session.signOut();
        context.install(createSessionView(context));
      }, callback);
      return view();
    },
    reload(callback) {
      context.enqueue(async () => {
        if (state.isDetached) return;
        if (!(await session.reload())) throw new SessionGoneError();
      }, callback);
      return view();
    },
    touch() {
      return view();
    },
    resetMaxAge() {
      return view();
    },
  };
}

/** The Proxy traps: `id`, `cookie` and the methods are the view's own; every other name is session data. */
function viewTraps(context: ViewContext, state: ViewState, methods: ViewMethods): ProxyHandler<ExpressSessionView> {
  const own = (key: string): unknown => {
    if (key === 'id') return state.id();
    if (key === 'cookie') return cookieView(context, state);
    return methods[key as keyof ViewMethods];
  };
  return {
    get(target, key, receiver) {
      if (typeof key === 'symbol') return Reflect.get(target, key, receiver);
      if (OWN.has(key)) return own(key);
      const value = state.read(key);
      return value !== undefined ? value : Reflect.get(target, key, receiver);
    },
    set(target, key, value, receiver) {
      if (typeof key === 'symbol') return Reflect.set(target, key, value, receiver);
      // `id`, `cookie` and the methods are not data; assigning them changes nothing (passport's
      // keepSessionInfo copies enumerable properties only, and these are not enumerable).
      if (!OWN.has(key)) state.write(key, value);
      return true;
    },
    deleteProperty(target, key) {
      if (typeof key === 'symbol') return Reflect.deleteProperty(target, key);
      if (!OWN.has(key)) state.remove(key);
      return true;
    },
    has(target, key) {
      if (typeof key === 'symbol') return Reflect.has(target, key);
      return OWN.has(key) || state.has(key) || Reflect.has(target, key);
    },
    ownKeys() {
      return state.keys();
    },
    getOwnPropertyDescriptor(target, key) {
      if (typeof key === 'symbol' || OWN.has(key) || !state.has(key)) return Reflect.getOwnPropertyDescriptor(target, key);
      return { value: state.read(key), writable: true, enumerable: true, configurable: true };
    },
    defineProperty(target, key, descriptor) {
      if (typeof key === 'symbol') return Reflect.defineProperty(target, key, descriptor);
      // Only plain data properties can live in a session.
      if (!('value' in descriptor) || descriptor.configurable === false) return false;
      if (!OWN.has(key)) state.write(key, descriptor.value);
      return true;
    },
  };
}

/**
 * Creates the `req.session` view of `context.session`. A Proxy, because
 * express-session code reads and writes arbitrary property names; its
 * traps map them onto `Session.get/set/delete/keys`.
 *
 * After `regenerate` or `destroy` the view is detached: it keeps a copy of
 * the data it had (passport's `keepSessionInfo` copies it into the new
 * session) and its writes go nowhere, like express-session's old Session
 * object; `req.session` is then a new view.
 */
export function createSessionView(context: ViewContext): ExpressSessionView {
  const state = new ViewState(context.session);
  const methods = viewMethods(context, state, () => view);
  // The target stays empty; it only lends the view Object.prototype (hasOwnProperty, toString, ...).
  const view: ExpressSessionView = new Proxy<ExpressSessionView>({} as ExpressSessionView, viewTraps(context, state, methods));
  return view;
}
