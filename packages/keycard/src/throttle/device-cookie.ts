import { createHmac, timingSafeEqual } from 'node:crypto';
import { decodeCanonicalBase64url } from '../core/base64url.js';
import type { RandomSource } from '../core/clock.js';
import { TokenSigner } from '../core/token.js';

/** HKDF purpose: device cookies get keys of their own, so no session or CSRF MAC verifies as one. */
const PURPOSE = 'keycard.device-cookie';
const NONCE_BYTES = 16;
/** `<issued at, seconds, base36>.<nonce>.<mac>` */
const VALUE = /^([0-9a-z]{1,11})\.([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{43})$/;

/** A device cookie to set after a successful sign-in: the value and its lifetime in seconds (Max-Age). */
export interface DeviceCookie {
  readonly value: string;
  readonly maxAge: number;
}

/**
 * OWASP's device cookies ("Slow Down Online Guessing Attacks with Device
 * Cookies"): a value a browser receives after signing in to an account,
 * bound to that account by a MAC under keys derived from the signing
 * secrets. Stateless: nothing is stored until the device fails a sign-in.
 */
export class DeviceCookies {
  private readonly keys: readonly Buffer[];

  constructor(
    secrets: readonly string[],
    /** Seconds a value stays valid after it was issued. */
    readonly lifetime: number,
    private readonly random: RandomSource,
  ) {
    this.keys = new TokenSigner(secrets).deriveKeys(PURPOSE);
  }

  /** A new value for `accountHash` (the throttle's hash of the normalised account), issued at `now` (ms). */
  issue(accountHash: string, now: number): DeviceCookie {
    const issued = Math.floor(now / 1000).toString(36);
    const nonce = Buffer.from(this.random(NONCE_BYTES)).toString('base64url');
    const mac = this.mac(this.keys[0] as Buffer, accountHash, issued, nonce).toString('base64url');
    return { value: `${issued}.${nonce}.${mac}`, maxAge: this.lifetime };
  }

  /**
   * The nonce of a value this server issued for `accountHash`, still within
   * its lifetime at `now`; null for anything else (another account's cookie,
   * a forged, expired or malformed value, one made under a dropped secret).
   */
  verify(value: string | null | undefined, accountHash: string, now: number): string | null {
    if (typeof value !== 'string') return null;
    const match = VALUE.exec(value);
    if (!match) return null;
    const [, issued = '', nonce = '', mac = ''] = match;
    const issuedAt = Number.parseInt(issued, 36) * 1000;
    if (!(issuedAt <= now + 60_000) || now - issuedAt >= this.lifetime * 1000) return null;
    const given = decodeCanonicalBase64url(mac);
    if (given?.length !== 32) return null;
    const valid = this.keys.some((key) => timingSafeEqual(given, this.mac(key, accountHash, issued, nonce)));
    return valid ? nonce : null;
  }

  private mac(key: Buffer, accountHash: string, issued: string, nonce: string): Buffer {
    return createHmac('sha256', key).update(`${accountHash}\0${issued}\0${nonce}`).digest();
  }
}
