import { createCipheriv, createDecipheriv, createHmac, timingSafeEqual } from 'node:crypto';
import { decodeCanonicalBase64url } from './base64url.js';
import type { Clock, RandomSource } from './clock.js';
import type { SameSite } from './cookie.js';
import type { JsonValue } from './record.js';
import type { TokenSigner } from './token.js';

/**
 * Signed and sealed cookie values, framework-free: strings in, strings out.
 *
 * - **Signed** (`sign`/`verify`): the value stays readable, an HMAC-SHA256
 *   proves it was written by this server. Integrity, not secrecy.
 * - **Sealed** (`seal`/`unseal`): AES-256-GCM; the value can be neither read
 *   nor changed by the client.
 *
 * Both carry the cookie's expiry (so a copy kept past Max-Age is refused
 * server-side too) and its HttpOnly/SameSite flags (so a value verified under
 * an older key can be re-issued as it was), and both are bound to the cookie
 * name: a value signed for `theme` does not verify as `role`. Keys come from
 * keycard's secrets through HKDF, one set per purpose; the first secret signs
 * and seals, every one verifies (`stale` says an older one did).
 */

/** What a verified or unsealed value carries besides itself. */
export interface CookieEnvelope<T> {
  readonly value: T;
  /** Milliseconds since the epoch (whole seconds), or null for a browser-session cookie. */
  readonly expiresAt: number | null;
  readonly httpOnly: boolean;
  readonly sameSite: SameSite;
  /** Verified under a secret other than the first: re-issue it. */
  readonly stale: boolean;
}

export interface EnvelopeAttributes {
  readonly expiresAt: number | null;
  readonly httpOnly: boolean;
  readonly sameSite: SameSite;
}

const IV_BYTES = 12;
const TAG_BYTES = 16;
const MAC_LENGTH = 43;
const MAC = /^[A-Za-z0-9_-]{43}$/;
const BASE64URL = /^[A-Za-z0-9_-]+$/;
const SAME_SITE_FLAG: Readonly<Record<SameSite, string>> = { Lax: 'l', Strict: 's', None: 'n' };
const FLAG_SAME_SITE: Readonly<Record<string, SameSite>> = { l: 'Lax', s: 'Strict', n: 'None' };

/** `h`/`-` for HttpOnly, `l`/`s`/`n` for SameSite, then the expiry in base-36 seconds (empty: none). */
function metaOf(attributes: EnvelopeAttributes): string {
  // Rounded down: the server never accepts a value for longer than its Max-Age.
  const expiry = attributes.expiresAt === null ? '' : Math.floor(attributes.expiresAt / 1000).toString(36);
  return `${attributes.httpOnly ? 'h' : '-'}${SAME_SITE_FLAG[attributes.sameSite]}${expiry}`;
}

function attributesOf(meta: string): EnvelopeAttributes | null {
  const httpOnly = meta[0] === 'h' ? true : meta[0] === '-' ? false : null;
  const sameSite = FLAG_SAME_SITE[meta[1] ?? ''];
  const expiry = meta.slice(2);
  if (httpOnly === null || sameSite === undefined || !/^[0-9a-z]{0,11}$/.test(expiry)) return null;
  return { httpOnly, sameSite, expiresAt: expiry === '' ? null : Number.parseInt(expiry, 36) * 1000 };
}

export class CookieCodec {
  private readonly signingKeys: readonly Buffer[];
  private readonly sealingKeys: readonly Buffer[];

  /** `purpose` separates key sets: app cookies and sealed sessions never share keys. */
  constructor(
    signer: TokenSigner,
    purpose: string,
    private readonly clock: Clock,
    private readonly random: RandomSource,
  ) {
    this.signingKeys = signer.deriveKeys(`${purpose} sign v1`);
    this.sealingKeys = signer.deriveKeys(`${purpose} seal v1`);
  }

  /** `<value, URI-encoded>.<meta>.<mac>`: readable by anyone, writable only with the secret. */
  sign(name: string, value: string, attributes: EnvelopeAttributes): string {
    const body = `${encodeURIComponent(value)}.${metaOf(attributes)}`;
    return `${body}.${this.mac(this.signingKeys[0] as Buffer, name, body)}`;
  }

  /** The value and its attributes, or null: forged, mangled, expired, or signed for another cookie name. */
  verify(name: string, signed: string | null | undefined): CookieEnvelope<string> | null {
    if (typeof signed !== 'string') return null;
    const macAt = signed.lastIndexOf('.');
    const metaAt = signed.lastIndexOf('.', macAt - 1);
    if (metaAt < 0 || signed.length - macAt - 1 !== MAC_LENGTH) return null;
    const mac = signed.slice(macAt + 1);
    if (!MAC.test(mac)) return null;
    const body = signed.slice(0, macAt);
    const given = decodeCanonicalBase64url(mac);
    if (given === null) return null;
    const index = this.signingKeys.findIndex((key) => timingSafeEqual(given, Buffer.from(this.mac(key, name, body), 'base64url')));
    if (index < 0) return null;
    const attributes = attributesOf(signed.slice(metaAt + 1, macAt));
    if (!attributes || this.expired(attributes)) return null;
    let value: string;
    try {
      value = decodeURIComponent(signed.slice(0, metaAt));
    } catch {
      return null;
    }
    return { value, ...attributes, stale: index > 0 };
  }

  /** AES-256-GCM under the current key; the cookie name is the associated data. base64url(iv ‖ ciphertext ‖ tag). */
  seal(name: string, value: JsonValue, attributes: EnvelopeAttributes): string {
    const iv = Buffer.from(this.random(IV_BYTES));
    const cipher = createCipheriv('aes-256-gcm', this.sealingKeys[0] as Buffer, iv);
    cipher.setAAD(Buffer.from(name, 'utf8'));
    const plaintext = JSON.stringify([value, metaOf(attributes)]);
    const sealed = Buffer.concat([iv, cipher.update(plaintext, 'utf8'), cipher.final(), cipher.getAuthTag()]);
    return sealed.toString('base64url');
  }

  /** The value and its attributes, or null for anything not sealed by this server for this name, or expired. */
  unseal<T extends JsonValue = JsonValue>(name: string, sealed: string | null | undefined): CookieEnvelope<T> | null {
    if (typeof sealed !== 'string' || sealed.length < 40 || !BASE64URL.test(sealed)) return null;
    const bytes = decodeCanonicalBase64url(sealed);
    if (bytes === null || bytes.length <= IV_BYTES + TAG_BYTES) return null;
    for (let i = 0; i < this.sealingKeys.length; i++) {
      const plaintext = open(this.sealingKeys[i] as Buffer, name, bytes);
      if (plaintext === null) continue;
      const parsed = parseSealed(plaintext);
      if (!parsed) return null;
      const attributes = attributesOf(parsed.meta);
      if (!attributes || this.expired(attributes)) return null;
      return { value: parsed.value as T, ...attributes, stale: i > 0 };
    }
    return null;
  }

  private expired(attributes: EnvelopeAttributes): boolean {
    return attributes.expiresAt !== null && attributes.expiresAt <= this.clock.now();
  }

  private mac(key: Buffer, name: string, body: string): string {
    // The name is length-prefixed so that no (name, body) pair can be read as another.
    return createHmac('sha256', key).update(`${name.length}:${name}=${body}`).digest('base64url');
  }
}

function open(key: Buffer, name: string, bytes: Buffer): string | null {
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, bytes.subarray(0, IV_BYTES), { authTagLength: TAG_BYTES });
    decipher.setAAD(Buffer.from(name, 'utf8'));
    decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES));
    return Buffer.concat([decipher.update(bytes.subarray(IV_BYTES, bytes.length - TAG_BYTES)), decipher.final()]).toString('utf8');
  } catch {
    return null; // wrong key or tampered: the tag does not verify
  }
}

function parseSealed(plaintext: string): { value: JsonValue; meta: string } | null {
  try {
    const parsed: unknown = JSON.parse(plaintext);
    if (!Array.isArray(parsed) || parsed.length !== 2 || typeof parsed[1] !== 'string') return null;
    return { value: parsed[0] as JsonValue, meta: parsed[1] };
  } catch {
    return null;
  }
}
