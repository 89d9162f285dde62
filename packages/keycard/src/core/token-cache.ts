import { sessionIdOf, type TokenSigner } from './token.js';

/** A presented value that verified: its token, store id, and whether to re-issue it. */
export interface VerifiedValue {
  readonly token: string;
  readonly id: string;
  readonly stale: boolean;
}

/**
 * Remembers values that verified, so that a client's every request does not
 * pay an HMAC and a SHA-256 again (together the largest part of keycard's own
 * CPU per authenticated read, measured). Only a value that verified is kept,
 * keyed by the whole signed string, so a hit proves exactly what the HMAC
 * would; forged values are never cached and always pay the full check.
 * Liveness is still the store's to say: a revoked session's value maps to an
 * id the store no longer has.
 */
export class VerifiedTokenCache {
  private readonly entries = new Map<string, VerifiedValue>();

  constructor(
    private readonly signer: TokenSigner,
    private readonly maxEntries = 10_000,
  ) {}

  verify(value: string): VerifiedValue | null {
    const hit = this.entries.get(value);
    if (hit !== undefined) return hit;
    const verified = this.signer.verify(value);
    if (verified === null) return null;
    // Dropping everything when full keeps this O(1) with no bookkeeping per hit.
    if (this.entries.size >= this.maxEntries) this.entries.clear();
    const entry = { token: verified.token, id: sessionIdOf(verified.token), stale: verified.stale };
    this.entries.set(value, entry);
    return entry;
  }
}
