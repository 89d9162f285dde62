import type { StoreCoherence } from './coherence.js';
import type { Principal, SessionPatch, SessionRecord } from './record.js';

/**
 * Hears the revocation channel: `handles` of sessions that ended, or (no
 * handles) `refreshedUserId`, a user whose principal was refreshed: their
 * sessions live on, with new roles.
 */
export type RevocationListener = (handles: readonly string[], refreshedUserId?: string) => void;

/**
 * The contract every session store implements. A store saves and finds
 * records; policy (expiry, touch, rotation, limits) lives in the session
 * manager. Times are milliseconds since the epoch unless stated otherwise.
 *
 * Every method either resolves or rejects with `StoreUnavailableError` when the
 * backend cannot be reached; expected outcomes (absent, already gone) are
 * return values. Implementations run `describeSessionStore` from
 * `keycard/testing` unchanged.
 */
export interface SessionStore {
  /**
   * False for a store that keeps no per-user index (`listByUser`,
   * `revokeAll` and `refreshPrincipal` reject with
   * `UnsupportedOperationError`): the default session cap is then off,
   * since it cannot be counted. Absent means the store has the index.
   */
  readonly userIndex?: boolean;

  /**
   * The record stored under `id`, or null when there is none.
   *
   * May return a record that has expired but not yet been removed (the manager
   * treats it as expired and destroys it). Never returns a destroyed or rotated
   * record.
   *
   * Touch, in the same round trip: when the record is live at `now` and
   * `now - lastSeenAt >= touchInterval`, the store atomically sets
   * `lastSeenAt = now` and `idleExpiresAt = min(now + idleTimeout,
   * absoluteExpiresAt)` (see `touched` in record.ts), extends any backend TTL
   * to match, and returns the touched record. `touchInterval = Infinity` never
   * touches.
   */
  find(id: string, now: number, touchInterval: number): Promise<SessionRecord | null>;

  /**
   * Stores a new record and indexes it under `principal.id` when present.
   * Rejects with `SessionExistsError` when `id` is taken. A backend TTL, if
   * any, is set to `min(idleExpiresAt, absoluteExpiresAt)`.
   */
  create(record: SessionRecord): Promise<void>;

  /**
   * Sets and removes the named data keys, leaving every other key as stored,
   * so that concurrent writers of different keys both win. Applies only while
   * the record exists: returns false and changes nothing when it is gone
   * (destroyed, rotated or expired). Never creates a record, never changes
   * expiry.
   */
  update(id: string, patch: SessionPatch): Promise<boolean>;

  /**
   * Replaces `oldId` by `next` (a new id): deletes the old record and stores
   * `next`, moving the per-user index entry. When `oldId` is already gone,
   * returns false and stores nothing, so a destroyed session is never revived
   * through a rotation. Between the two steps the session may briefly be
   * absent, never present under both ids.
   */
  rotate(oldId: string, next: SessionRecord): Promise<boolean>;

  /**
   * Deletes the record and its index entry. Returns whether it existed.
   * Publishes the handle to `onRevoked` subscribers.
   */
  destroy(id: string): Promise<boolean>;

  /**
   * The live records of one user, oldest `createdAt` first. Costs time in
   * proportion to that user's sessions, never to all sessions; may prune index
   * entries whose record has expired.
   */
  listByUser(userId: string, now: number): Promise<SessionRecord[]>;

  /**
   * Destroys every session of `userId` except `exceptId` (when given) and
   * returns the destroyed records' handles. Publishes them to `onRevoked`.
   */
  revokeAll(userId: string, exceptId?: string): Promise<string[]>;

  /**
   * Replaces the principal of every live session of `principal.id` and sets
   * `rotationDue`, so each picks up new roles at its next request and gets a
   * new id then. Returns how many sessions were changed. When any was,
   * publishes the user to `onRevoked` subscribers (`refreshedUserId`), so
   * that open sockets pick up the new roles at once, not at their next re-check.
   */
  refreshPrincipal(principal: Principal): Promise<number>;

  /**
   * Calls `listener` with the handles of sessions destroyed by any process
   * sharing this store (pub/sub on Redis, LISTEN/NOTIFY on PostgreSQL,
   * in-process for memory), and with no handle and a user id after a
   * `refreshPrincipal` of that user. Resolves to an unsubscribe function.
   */
  onRevoked(listener: RevocationListener): Promise<() => Promise<void>>;

  /**
   * Optional. Called by each SessionManager given this store, once, with its
   * resolved settings: a store that may block inside an operation (Redis
   * `WAIT` for replicas) bounds that wait by `storeTimeoutMs`.
   */
  configure?(settings: StoreSettings): void;

  /**
   * Optional: how a copy of a record cached in this process learns that the
   * store changed it (see coherence.ts). Without it, SessionManager caches
   * nothing for this store.
   */
  readonly coherence?: StoreCoherence;

  /**
   * Optional. Whether revocations published by any process reach this one:
   * publishes a probe on the revocation channel and resolves to 'up' once it
   * has come back through this process's own subscription, or to 'off' when
   * nothing here subscribes (`onRevoked` never called: the channel is not in
   * use). Rejects with StoreUnavailableError when the probe does not come
   * back within `timeoutMs` — a lost subscription, which otherwise stops
   * cross-process revocation without a sound. Other processes ignore probes.
   */
  probeRevocations?(timeoutMs: number): Promise<'up' | 'off'>;

  /** Resolves when the backend answers; for readiness probes. */
  ping(): Promise<void>;

  /** Releases what the store opened itself (timers, subscriptions); never closes a client it was given. */
  close(): Promise<void>;
}

/** What a SessionManager tells its store (see `SessionStore.configure`). */
export interface StoreSettings {
  /** The manager's `storeTimeout`: every store call it makes is abandoned (503) after this many milliseconds. */
  readonly storeTimeoutMs: number;
}
