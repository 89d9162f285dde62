/**
 * What a sealed-cookie session (no session store) checks to honour
 * sign-out, "sign out everywhere" and password changes: a small store that
 * holds, per user, a revocation epoch (bumped to end every session issued
 * before), and per signed-out session, a marker until that session would
 * have expired anyway. Each request makes one `check` (one round trip, a
 * few bytes); nothing else is stored, and anonymous traffic checks nothing.
 *
 * Every method either resolves or rejects with `StoreUnavailableError`.
 */
export interface RevocationStore {
  /** The user's current epoch (0 when never bumped) and whether `sessionId` was revoked, in one round trip. */
  check(userId: string, sessionId: string): Promise<RevocationState>;
  /**
   * Ends every sealed session of `userId` carrying an older epoch; returns the
   * new epoch. `keepFor` (milliseconds): how long the epoch must be kept at
   * least (the longest a session can live), after which it may be forgotten.
   */
  bumpEpoch(userId: string, keepFor: number): Promise<number>;
  /** Ends one sealed session; the marker may be forgotten after `until` (milliseconds since the epoch). */
  revoke(sessionId: string, until: number): Promise<void>;
  /** Releases what the store opened itself; never closes a client it was given. */
  close(): Promise<void>;
}

export interface RevocationState {
  readonly epoch: number;
  readonly revoked: boolean;
}
