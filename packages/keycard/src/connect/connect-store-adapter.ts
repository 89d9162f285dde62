import { InvalidOptionsError, KeycardError, SessionExistsError, UnsupportedOperationError } from '../core/errors.js';
import { RevocationListeners, positiveNumberOption, storeFailure, type RevocationListener } from '../core/store-support.js';
import { expiresAt, touchDue, touched } from '../core/record.js';
import type { Principal, SessionPatch, SessionRecord } from '../core/record.js';
import type { SessionStore } from '../core/store.js';

/**
 * The cookie part of an express-session session. Backing stores read
 * `expires` to set their TTL (connect-redis, connect-pg-simple, the
 * express-session MemoryStore), so the adapter writes the record's expiry there.
 */
export interface ConnectCookie {
  readonly originalMaxAge?: number | null;
  readonly expires?: Date | string | null;
}

/** An express-session session as the adapter stores it: the cookie for the TTL, the record under `keycard`. */
export interface ConnectSession {
  readonly cookie: ConnectCookie;
  readonly keycard?: unknown;
}

type Callback<T = unknown> = (error?: unknown, value?: T) => void;

/**
 * The callback API every express-session store implements (connect-redis,
 * connect-pg-simple, connect-mongo, express-session's MemoryStore, …).
 * Structural, so that keycard never imports express-session. Methods may also
 * return a promise (connect-redis 8+ does); a rejection is then reported too.
 */
export interface ConnectStore {
  get(sid: string, callback: (error: unknown, session?: ConnectSession | null) => void): unknown;
  set(sid: string, session: ConnectSession, callback?: (error?: unknown) => void): unknown;
  destroy(sid: string, callback?: (error?: unknown) => void): unknown;
}

export interface ConnectStoreAdapterOptions {
  /**
   * Milliseconds to wait for the wrapped store's callback. A store that never
   * calls back would otherwise hold this session's queue forever (see
   * "serialised per session" below). Default 5000.
   */
  readonly callbackTimeout?: number;
}

/** Version tag of the stored shape: foreign or older values under a key are never adopted. */
const FORMAT = 1;
const PING_SID = 'keycard:ping';

interface Stored {
  readonly format: typeof FORMAT;
  readonly record: SessionRecord;
}

/**
 * Runs keycard on any express-session store, for teams migrating from
 * express-session with connect-redis, connect-pg-simple and the like: the
 * backing store, its configuration and its operations stay as they are.
 *
 * Each record is saved under its store id (a hash, never the token) as
 * `{ cookie: { expires, originalMaxAge }, keycard: { format, record } }`; the
 * cookie part gives the backing store its TTL. Sessions that express-session
 * itself wrote are never adopted (different shape, and different ids).
 *
 * What an express-session store cannot give, and this adapter therefore does
 * not promise:
 *
 * - **No per-user index.** `listByUser`, `revokeAll` and `refreshPrincipal`
 *   reject with `UnsupportedOperationError` (never a silent no-op): device
 *   lists, "sign out everywhere", session limits and role refreshes need a
 *   keycard store (memory, PostgreSQL, Redis). Scanning `all()` would cost time
 *   in proportion to every session, which the contract rules out.
 * - **No conditional write.** `update` (and the touch in `find`) is get, merge,
 *   then set. Within this process, operations on one session are serialised,
 *   so concurrent requests handled here do not lose each other's keys and a
 *   logout here cannot be undone by a request in flight here. Across processes
 *   there is no such guarantee: two writers can lose a key, and a `destroy` on
 *   another instance racing an `update` or a touch can resurrect the session
 *   until its TTL runs out.
 * - **Revocations stay in this process.** `onRevoked` hears destroys made
 *   through this adapter instance only; WebSockets held by other instances are
 *   not told.
 * - **Create and rotate are check-then-act.** `create` reads before it writes
 *   to detect a taken id (harmless with 256-bit ids); `rotate` deletes the old
 *   key, then writes the new one.
 */
export class ConnectStoreAdapter implements SessionStore {
  /** No per-user index (see above): the default session cap does not apply. */
  readonly userIndex = false;
  private readonly listeners = new RevocationListeners();
  private readonly queues = new Map<string, Promise<void>>();
  private readonly timeout: number;

  constructor(
    private readonly store: ConnectStore,
    options: ConnectStoreAdapterOptions = {},
  ) {
    if (typeof store?.get !== 'function' || typeof store.set !== 'function' || typeof store.destroy !== 'function') {
      throw new InvalidOptionsError('keycard: ConnectStoreAdapter expected an express-session store with get, set and destroy');
    }
    this.timeout = positiveNumberOption('ConnectStoreAdapter', 'callbackTimeout', options.callbackTimeout, 5000, 'milliseconds');
  }

  find(id: string, now: number, touchInterval: number): Promise<SessionRecord | null> {
    return this.exclusive(id, async () => {
      const record = await this.read(id);
      if (!record || !touchDue(record, now, touchInterval)) return record;
      const next = touched(record, now);
      await this.write(next);
      return next;
    });
  }

  create(record: SessionRecord): Promise<void> {
    return this.exclusive(record.id, async () => {
      if (await this.read(record.id)) throw new SessionExistsError();
      await this.write(record);
    });
  }

  update(id: string, patch: SessionPatch): Promise<boolean> {
    return this.exclusive(id, async () => {
      const record = await this.read(id);
      if (!record) return false;
      const data = { ...record.data, ...patch.set };
      for (const key of patch.unset ?? []) delete data[key];
      await this.write({ ...record, data, rotationDue: patch.rotationDue ?? record.rotationDue });
      return true;
    });
  }

  rotate(oldId: string, next: SessionRecord): Promise<boolean> {
    return this.exclusive(oldId, async () => {
      if (!(await this.read(oldId))) return false;
      if (await this.read(next.id)) throw new SessionExistsError();
      // Old first: the session may be briefly absent, never present under both ids.
      await this.call<void>('destroy', (done) => this.store.destroy(oldId, done));
      await this.write(next);
      return true;
    });
  }

  destroy(id: string): Promise<boolean> {
    return this.exclusive(id, async () => {
      const record = await this.read(id);
      if (!record) return false;
      await this.call<void>('destroy', (done) => this.store.destroy(id, done));
      this.listeners.publish([record.handle]);
      return true;
    });
  }

  async listByUser(_userId: string, _now: number): Promise<SessionRecord[]> {
    throw unsupported('listByUser');
  }

  async revokeAll(_userId: string, _exceptId?: string): Promise<string[]> {
    throw unsupported('revokeAll');
  }

  async refreshPrincipal(_principal: Principal): Promise<number> {
    throw unsupported('refreshPrincipal');
  }

  async onRevoked(listener: RevocationListener): Promise<() => Promise<void>> {
    const remove = this.listeners.add(listener);
    return async () => {
      remove();
    };
  }

  async ping(): Promise<void> {
    await this.call<ConnectSession | null>('get', (done) => this.store.get(PING_SID, done));
  }

  /** Forgets listeners; the wrapped store belongs to the caller and stays open. */
  async close(): Promise<void> {
    this.listeners.clear();
  }

  private async read(id: string): Promise<SessionRecord | null> {
    const session = await this.call<ConnectSession | null>('get', (done) => this.store.get(id, done));
    const stored = session?.keycard as Stored | undefined;
    if (!stored || stored.format !== FORMAT || typeof stored.record !== 'object' || stored.record?.id !== id) return null;
    return stored.record;
  }

  private write(record: SessionRecord): Promise<void> {
    const expires = expiresAt(record);
    const session: ConnectSession = {
      cookie: { originalMaxAge: Math.max(0, expires - Date.now()), expires: new Date(expires).toISOString() },
      keycard: { format: FORMAT, record } satisfies Stored,
    };
    return this.call<void>('set', (done) => this.store.set(record.id, session, done));
  }

  private call<T>(what: string, invoke: (done: Callback<T>) => unknown): Promise<T> {
    return callConnectStore(what, this.timeout, invoke);
  }

  /**
   * Serialises the operations on one session id within this process, so that a
   * read-merge-write here never interleaves with another one on the same id.
   */
  private exclusive<T>(id: string, task: () => Promise<T>): Promise<T> {
    const previous = this.queues.get(id) ?? Promise.resolve();
    const result = previous.then(task);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.queues.set(id, tail);
    void tail.then(() => {
      if (this.queues.get(id) === tail) this.queues.delete(id);
    });
    return result;
  }

}

/**
 * One callback-style call of an express-session store as a promise: the
 * first of callback, returned promise rejection, thrown error or timeout
 * wins; anything later is ignored. Failures are `StoreUnavailableError`.
 */
export function callConnectStore<T>(what: string, timeoutMs: number, invoke: (done: Callback<T>) => unknown): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const settle = (error: unknown, value?: T): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (error) reject(storeFailure(error, `connect store failed during ${what}`));
      else resolve(value as T);
    };
    // Not unref'd: someone awaits this call, and the timeout is what answers them if the store never does.
    const timer = setTimeout(() => settle(new Error(`no callback within ${timeoutMs} ms`)), timeoutMs);
    try {
      const returned = invoke((error, value) => settle(error ?? null, value));
      if (isThenable(returned)) returned.then(undefined, (error: unknown) => settle(error ?? new Error('rejected')));
    } catch (error) {
      settle(error ?? new Error('threw'));
    }
  });
}

function unsupported(method: string): KeycardError {
  return new UnsupportedOperationError(
    `${method} needs a per-user index, which an express-session store does not have; ` +
      'use a keycard store (memory, PostgreSQL, Redis) for device lists and revocation',
  );
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | null)?.then === 'function';
}
