export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** Arbitrary per-session data: JSON values by key. */
export type SessionData = Record<string, JsonValue>;

/**
 * Who is signed in. It lives in the session so that guards need no database
 * query per request; apps refresh it through the per-user index when roles
 * change, and bump `authVersion` when credentials change.
 */
export interface Principal {
  readonly id: string;
  readonly roles: readonly string[];
  readonly authVersion: number;
  /** Small, non-secret facts worth having without a query (display name, email). */
  readonly claims?: { readonly [key: string]: JsonValue };
}

/**
 * What a store holds for one session. All times are milliseconds since the
 * epoch; `idleTimeout` is a duration in milliseconds.
 */
export interface SessionRecord {
  /** Store key: SHA-256 of the token, base64url. It cannot be turned into a cookie. */
  readonly id: string;
  /** Public, random handle for device lists; kept across rotations of one session. */
  readonly handle: string;
  readonly principal: Principal | null;
  readonly data: SessionData;
  readonly createdAt: number;
  readonly lastSeenAt: number;
  /** When the principal last proved who they are (sign-in, re-authentication). */
  readonly authenticatedAt: number | null;
  /** Sliding window; `idleExpiresAt` moves to `lastSeenAt + idleTimeout` on touch. */
  readonly idleTimeout: number;
  /** Never after `absoluteExpiresAt`. */
  readonly idleExpiresAt: number;
  readonly absoluteExpiresAt: number;
  /** "Remember me": persistent cookie and the longer limits. */
  readonly remember: boolean;
  /** Set by `refreshPrincipal`: the manager gives the session a new id at its next use. */
  readonly rotationDue: boolean;
  readonly userAgent: string | null;
  readonly ip: string | null;
}

/** A write of changed data keys only; keys not named are left as the store has them. */
export interface SessionPatch {
  readonly set?: Readonly<Record<string, JsonValue>>;
  readonly unset?: readonly string[];
  /** Clears (or sets) the rotation flag without rotating, for bearer sessions. */
  readonly rotationDue?: boolean;
}

/** The first instant at which a record is no longer live. */
export function expiresAt(record: Pick<SessionRecord, 'idleExpiresAt' | 'absoluteExpiresAt'>): number {
  return Math.min(record.idleExpiresAt, record.absoluteExpiresAt);
}

export function isLive(record: Pick<SessionRecord, 'idleExpiresAt' | 'absoluteExpiresAt'>, now: number): boolean {
  return expiresAt(record) > now;
}

/**
 * The touch every store applies in `find`, written once so that all stores
 * agree: the memory store calls it, the Redis FIND script and the PostgreSQL
 * statement restate it, and the conformance suite checks every store against
 * it ("find — applies the touch rule of record.ts").
 */
export function touched(record: SessionRecord, now: number): SessionRecord {
  return {
    ...record,
    lastSeenAt: now,
    idleExpiresAt: Math.min(now + record.idleTimeout, record.absoluteExpiresAt),
  };
}

/** Whether `find` at `now` must touch the record. */
export function touchDue(record: SessionRecord, now: number, touchInterval: number): boolean {
  return isLive(record, now) && now - record.lastSeenAt >= touchInterval;
}
