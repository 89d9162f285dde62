import type { Clock, RandomSource } from './clock.js';
import { CookieCodec } from './cookie-codec.js';
import { MAX_COOKIE_NAME_VALUE_BYTES } from './cookie.js';
import { CookieTooLargeError } from './errors.js';
import type { JsonValue, Principal, SessionData, SessionRecord } from './record.js';
import type { TokenSigner } from './token.js';

/*
 * A whole session sealed in its cookie (AES-256-GCM, keys derived from the
 * session secrets for this purpose only): no session store. The record's
 * timestamps travel sealed, so idle and absolute timeouts are enforced from
 * them, and `authenticatedAt` is what a user's revocation epoch is compared
 * with (see `RevocationStore`).
 */

/** The associated data of every sealed session: the cookie's name changes with Secure, the session does not. */
const AAD = 'keycard sealed session';

/** The compact shape inside the seal: short keys, because every byte is sent with every request. */
interface Packed {
  readonly i: string;
  readonly h: string;
  readonly p: Principal | null;
  readonly d: SessionData;
  readonly c: number;
  readonly l: number;
  readonly a: number | null;
  readonly t: number;
  readonly x: number;
  readonly r: boolean;
}

export class SealedSessionCodec {
  private readonly codec: CookieCodec;

  constructor(signer: TokenSigner, clock: Clock, random: RandomSource) {
    this.codec = new CookieCodec(signer, 'keycard sealed session', clock, random);
  }

  /**
   * The cookie value for `record`. Throws `CookieTooLargeError` when
   * `cookieName=value` would pass the 4096 bytes browsers keep: the session
   * data must shrink (or the app needs a session store).
   */
  seal(record: SessionRecord, cookieName: string): string {
    const packed: Packed = {
      i: record.id,
      h: record.handle,
      p: record.principal,
      d: record.data,
      c: record.createdAt,
      l: record.lastSeenAt,
      a: record.authenticatedAt,
      t: record.idleTimeout,
      x: record.absoluteExpiresAt,
      r: record.remember,
    };
    const value = this.codec.seal(AAD, packed as unknown as JsonValue, {
      expiresAt: record.absoluteExpiresAt,
      httpOnly: true,
      sameSite: 'Lax',
    });
    const bytes = Buffer.byteLength(cookieName) + 1 + value.length;
    if (bytes > MAX_COOKIE_NAME_VALUE_BYTES) throw new CookieTooLargeError(cookieName, bytes, MAX_COOKIE_NAME_VALUE_BYTES);
    return value;
  }

  /**
   * The record in a cookie value, or null for anything this server did not
   * seal, or past its absolute expiry. `stale`: sealed under an older secret.
   * Idle expiry is the caller's check (`isLive`).
   */
  open(value: string | null | undefined): { readonly record: SessionRecord; readonly stale: boolean } | null {
    const envelope = this.codec.unseal<JsonValue>(AAD, value);
    if (!envelope) return null;
    const packed = envelope.value as unknown as Partial<Packed> | null;
    if (!isPacked(packed)) return null;
    const record: SessionRecord = {
      id: packed.i,
      handle: packed.h,
      principal: packed.p,
      data: packed.d,
      createdAt: packed.c,
      lastSeenAt: packed.l,
      authenticatedAt: packed.a,
      idleTimeout: packed.t,
      idleExpiresAt: Math.min(packed.l + packed.t, packed.x),
      absoluteExpiresAt: packed.x,
      remember: packed.r,
      rotationDue: false,
      userAgent: null,
      ip: null,
    };
    return { record, stale: envelope.stale };
  }
}

function isPacked(value: Partial<Packed> | null): value is Packed {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof value.i === 'string' &&
    typeof value.h === 'string' &&
    (value.p === null || (typeof value.p === 'object' && typeof value.p?.id === 'string')) &&
    typeof value.d === 'object' &&
    value.d !== null &&
    typeof value.c === 'number' &&
    typeof value.l === 'number' &&
    (value.a === null || typeof value.a === 'number') &&
    typeof value.t === 'number' &&
    typeof value.x === 'number' &&
    typeof value.r === 'boolean'
  );
}
