/**
 * CSRF protection, framework-free: token derivation and the Origin /
 * Sec-Fetch-Site rules, on strings only. The Nest guard reads the request and
 * calls these.
 *
 * Two kinds of token, both stateless HMACs under the session signing keys
 * (so key rotation works the same way as for session cookies):
 *
 * - **Signed in**: bound to the session's public handle and the user id. The
 *   handle survives rotation (`rotate`, role refresh), so a page stays
 *   valid when the id changes under it; the user id changes at sign-in, so a
 *   token obtained before sign-in (possibly planted by an attacker who tossed
 *   their own session cookie into the browser) never carries over into the
 *   signed-in session.
 * - **Not signed in** (sign-in, registration, anonymous forms): signed
 *   double-submit. A host-only cookie holds a random nonce and its MAC; the
 *   token is a different MAC of the same nonce, so only this server can turn a
 *   cookie into a token, and a token is useless without its cookie.
 *
 * Tokens go out masked (a fresh random pad XOR the MAC, pad included), so a
 * token embedded in compressed pages differs on every render (BREACH).
 */
import { decodeCanonicalBase64url } from './base64url.js';
import type { RandomSource } from './clock.js';
import type { TokenSigner } from './token.js';

/** Values of the `Sec-Fetch-Site` request header (Fetch Metadata, W3C). */
export type FetchSite = 'same-origin' | 'same-site' | 'cross-site' | 'none';

export const FETCH_SITES: readonly FetchSite[] = ['same-origin', 'same-site', 'cross-site', 'none'];

/** Why a request failed the CSRF check. */
export type CsrfFailure = 'cross-site' | 'missing' | 'invalid' | 'simple-content-type' | 'get-mutation';

const MAC_BYTES = 32;
const NONCE_BYTES = 32;
/** base64url of pad (32 bytes) + masked MAC (32 bytes). */
const MASKED_TOKEN = /^[A-Za-z0-9_-]{86}$/;
/** `<nonce>.<mac>`, both 32 bytes base64url. */
const COOKIE_VALUE = /^[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{43}$/;

// Domain separation: a MAC made for one purpose is never valid for another
// (a pre-session cookie's MAC is not a token; a token is not a session cookie).
const SESSION_PURPOSE = 'keycard.csrf.session';
const NONCE_PURPOSE = 'keycard.csrf.nonce';
const COOKIE_PURPOSE = 'keycard.csrf.cookie';

function xor(a: Uint8Array, b: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(a.length);
  for (let i = 0; i < a.length; i++) out[i] = (a[i] as number) ^ (b[i] as number);
  return out;
}

/** Issues and checks CSRF tokens. One instance per application. */
export class CsrfTokens {
  constructor(
    private readonly signer: TokenSigner,
    private readonly random: RandomSource,
  ) {}

  /** A token for a signed-in session, masked afresh on every call. */
  forSession(handle: string, userId: string): string {
    return this.mask(this.signer.macOf(sessionMessage(handle, userId)));
  }

  verifySession(token: string, handle: string, userId: string): boolean {
    const mac = this.unmask(token);
    return mac !== null && this.signer.verifyMac(sessionMessage(handle, userId), mac);
  }

  /** A new pre-session cookie value: a random nonce and its MAC. */
  newCookie(): { readonly value: string; readonly nonce: string } {
    const nonce = Buffer.from(this.random(NONCE_BYTES)).toString('base64url');
    return { value: `${nonce}.${this.signer.macOf(`${COOKIE_PURPOSE}\0${nonce}`)}`, nonce };
  }

  /** The nonce in a pre-session cookie this server issued (under any current key), else null. */
  nonceOf(cookieValue: string | null): string | null {
    if (cookieValue === null || !COOKIE_VALUE.test(cookieValue)) return null;
    const nonce = cookieValue.slice(0, 43);
    return this.signer.verifyMac(`${COOKIE_PURPOSE}\0${nonce}`, cookieValue.slice(44)) ? nonce : null;
  }

  /** A token matching a pre-session cookie's nonce, masked afresh on every call. */
  forNonce(nonce: string): string {
    return this.mask(this.signer.macOf(`${NONCE_PURPOSE}\0${nonce}`));
  }

  verifyNonce(token: string, nonce: string): boolean {
    const mac = this.unmask(token);
    return mac !== null && this.signer.verifyMac(`${NONCE_PURPOSE}\0${nonce}`, mac);
  }

  private mask(mac: string): string {
    const pad = this.random(MAC_BYTES);
    return Buffer.concat([pad, xor(Buffer.from(mac, 'base64url'), pad)]).toString('base64url');
  }

  /** The MAC inside a masked token (base64url), or null for anything not shaped like one. */
  private unmask(token: string): string | null {
    if (!MASKED_TOKEN.test(token)) return null;
    const bytes = decodeCanonicalBase64url(token);
    if (bytes?.length !== 2 * MAC_BYTES) return null;
    return xor(bytes.subarray(MAC_BYTES), bytes.subarray(0, MAC_BYTES)).toString('base64url');
  }
}

/** The handle is base64url (no NUL); the user id comes last, so any id is unambiguous. */
function sessionMessage(handle: string, userId: string): string {
  return `${SESSION_PURPOSE}\0${handle}\0${userId}`;
}

// ——— where a request comes from ———

/** Host header values worth parsing: a name or IP literal and an optional port, nothing else. */
const HOST = /^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

/**
 * The serialised origin (`scheme://host[:port]`, lower-case, default port
 * dropped) of an `Origin` header or an allow-list entry; null for `null`,
 * non-HTTP schemes and anything that is not exactly an origin.
 */
export function normalizeOrigin(value: string): string | null {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return null;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return null;
  if (url.username || url.password || url.search || url.hash || url.pathname !== '/') return null;
  // `new URL` accepts a trailing path of '/', which an Origin header never has.
  if (value.endsWith('/')) return null;
  return url.origin;
}

/**
 * The request's own origin from its scheme and Host (or X-Forwarded-Host,
 * when the platform trusts the proxy), or null when the host is not a plain
 * host name: such a request cannot be shown to be same-origin.
 */
export function requestOrigin(protocol: string, host: string | undefined): string | null {
  if (!host || !HOST.test(host) || (protocol !== 'http' && protocol !== 'https')) return null;
  return normalizeOrigin(`${protocol}://${host}`);
}

/** The Origin and Fetch Metadata rules, resolved once at startup. */
export interface CsrfOriginPolicy {
  /** Normalised origins, besides the request's own, that may send unsafe requests. */
  readonly allowedOrigins: ReadonlySet<string>;
  readonly allowedFetchSites: ReadonlySet<FetchSite>;
}

/** What a request says about where it comes from. */
export interface RequestProvenance {
  /** The `Origin` header, when sent. */
  readonly origin: string | undefined;
  /** The `Sec-Fetch-Site` header, when sent. */
  readonly fetchSite: string | undefined;
  /** The request's own origin (see `requestOrigin`). */
  readonly self: string | null;
}

/**
 * Whether an unsafe request comes from a site it must not come from.
 * An `Origin`, when sent, must be the request's own or an allowed one
 * (`null` and malformed values never are). `Sec-Fetch-Site`, when sent, must
 * be an allowed value, unless the Origin is on the allow-list (a trusted
 * other site is `cross-site` by definition). Requests with neither header
 * (older browsers, non-browser clients) pass this check and rely on the token.
 */
export function isCrossSite(request: RequestProvenance, policy: CsrfOriginPolicy): boolean {
  if (request.origin !== undefined) {
    const origin = normalizeOrigin(request.origin);
    if (origin === null) return true;
    // An allow-listed origin is another site by definition: its Sec-Fetch-Site is not consulted.
    if (origin !== request.self) return !policy.allowedOrigins.has(origin);
  }
  if (request.fetchSite !== undefined) {
    return !policy.allowedFetchSites.has(request.fetchSite as FetchSite);
  }
  return false;
}

/**
 * Content types a page on another site can send without a CORS preflight: an
 * HTML form's three encodings (Fetch's CORS-safelisted `Content-Type`
 * values). A GraphQL request in one of them may come from a cross-site form.
 */
const FORM_CONTENT_TYPES: ReadonlySet<string> = new Set(['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data']);

/** What the GraphQL rule reads off an operation and its HTTP request. */
export interface GraphqlRequestFacts {
  readonly method: string;
  /** The `Content-Type` header as sent (parameters included), or undefined. */
  readonly contentType: string | undefined;
  readonly operation: 'query' | 'mutation' | 'subscription' | undefined;
}

/**
 * The GraphQL part of the CSRF rules, before the HTTP ones: a mutation never
 * runs from a GET (a link or an image can send one), and no operation runs
 * from a body a cross-site form could have sent (`text/plain`, urlencoded,
 * `multipart/form-data` unless `allowMultipart`, or no content type at all,
 * which a no-cors fetch can send). Any other type forces a preflight the
 * browser only passes when CORS allows it. Null: the HTTP rules decide next.
 */
export function graphqlCsrfFailure(facts: GraphqlRequestFacts, allowMultipart: boolean): CsrfFailure | null {
  const method = facts.method.toUpperCase();
  if (method === 'GET' || method === 'HEAD') return facts.operation === 'query' ? null : 'get-mutation';
  const mediaType = facts.contentType?.split(';', 1)[0]?.trim().toLowerCase() ?? '';
  if (mediaType === '') return 'simple-content-type';
  if (FORM_CONTENT_TYPES.has(mediaType) && !(allowMultipart && mediaType === 'multipart/form-data')) return 'simple-content-type';
  return null;
}
