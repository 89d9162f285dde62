import { createHash, createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import { decodeCanonicalBase64url } from './base64url.js';
import type { RandomSource } from './clock.js';

/** 256 bits of randomness, base64url: 43 characters. */
const TOKEN_BYTES = 32;
const TOKEN_LENGTH = 43;
const SIGNATURE_LENGTH = 43;
/** `<token>.<signature>`: the only shape accepted from a cookie or a bearer header. */
export const SIGNED_TOKEN_LENGTH = TOKEN_LENGTH + 1 + SIGNATURE_LENGTH;
const SIGNED_TOKEN = /^[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{43}$/;

export interface VerifiedToken {
  /** The unsigned token; hash it with `sessionIdOf` for the store key. */
  readonly token: string;
  /** Signed with a secret other than the first: the caller re-issues the cookie. */
  readonly stale: boolean;
}

/**
 * Signs and verifies session tokens with a list of secrets: the first signs,
 * every one verifies (key rotation without logging everybody out).
 */
export class TokenSigner {
  private readonly keys: readonly Buffer[];

  constructor(secrets: readonly string[]) {
    this.keys = secrets.map((secret) => Buffer.from(secret, 'utf8'));
  }

  newToken(random: RandomSource): string {
    return Buffer.from(random(TOKEN_BYTES)).toString('base64url');
  }

  sign(token: string): string {
    return `${token}.${this.mac(this.keys[0] as Buffer, token).toString('base64url')}`;
  }

  /**
   * The token inside a signed value, or null for anything that is not a value
   * this server signed. Checks shape first, so garbage costs no HMAC, and
   * compares MACs in constant time.
   */
  verify(value: string | null | undefined): VerifiedToken | null {
    if (typeof value !== 'string' || value.length !== SIGNED_TOKEN_LENGTH || !SIGNED_TOKEN.test(value)) {
      return null;
    }
    const token = value.slice(0, TOKEN_LENGTH);
    const given = decodeCanonicalBase64url(value.slice(TOKEN_LENGTH + 1));
    if (given?.length !== 32) return null;
    for (let i = 0; i < this.keys.length; i++) {
      if (timingSafeEqual(given, this.mac(this.keys[i] as Buffer, token))) {
        return { token, stale: i > 0 };
      }
    }
    return null;
  }

  /** A MAC of `message` under the signing key, for values bound to a session (CSRF). */
  macOf(message: string): string {
    return this.mac(this.keys[0] as Buffer, message).toString('base64url');
  }

  /** Whether `mac` is the MAC of `message` under any key, in constant time. */
  verifyMac(message: string, mac: string): boolean {
    const given = decodeCanonicalBase64url(mac);
    if (given?.length !== 32) return false;
    return this.keys.some((key) => timingSafeEqual(given, this.mac(key, message)));
  }

  /**
   * One 256-bit key per secret, in the same order (the first is current),
   * derived with HKDF-SHA256 for `purpose`: app cookies and sealed sessions
   * get keys of their own, so no value made for one use verifies as another.
   */
  deriveKeys(purpose: string): readonly Buffer[] {
    return this.keys.map((key) => Buffer.from(hkdfSync('sha256', key, 'keycard', purpose, 32)));
  }

  private mac(key: Buffer, message: string): Buffer {
    return createHmac('sha256', key).update(message).digest();
  }
}

/** The store key for a token: a store dump cannot be replayed as cookies. */
export function sessionIdOf(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}
