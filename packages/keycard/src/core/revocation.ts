/**
 * What a sealed-cookie session (no session store) checks to honour
 * sign-out, "sign out everywhere" and password changes: a small store that
 * holds, per user, a revocation epoch (an instant: every session of that
 * user signed in before it is dead), and per signed-out session, a marker
 * until that session would have expired anyway. Each request makes one `check` (one round trip, a
 * few bytes); nothing else is stored, and anonymous traffic checks nothing.
 *
 * Every method either resolves or rejects with `StoreUnavailableError`.
 */
export interface RevocationStore {
  /** The user's epoch (0 when none) and whether `sessionId` was revoked, in one round trip. */
  check(userId: string, sessionId: string): Promise<RevocationState>;
  /**
   * Ends every sealed session of `userId` signed in before `at`
   * (milliseconds since the epoch). `keepFor` (milliseconds): how long the
   * epoch must be kept at least (the longest a session can live), after
   * which it may be forgotten.
   */
  bumpEpoch(userId: string, at: number, keepFor: number): Promise<void>;
  /** Ends one sealed session; the marker may be forgotten after `until` (milliseconds since the epoch). */
  revoke(sessionId: string, until: number): Promise<void>;
  /** Releases what the store opened itself; never closes a client it was given. */
  close(): Promise<void>;
}

export interface RevocationState {
  /** Milliseconds since the epoch; sessions signed in before it are dead. 0: none. */
  readonly epoch: number;
  readonly revoked: boolean;
}
