import type { Clock } from './clock.js';
import { CookieCodec } from './cookie-codec.js';
import {
  MAX_COOKIE_NAME_VALUE_BYTES,
  checkCookieDomain,
  checkCookieName,
  checkCookiePath,
  checkCookieRules,
  checkMaxAge,
  parseCookies,
  serializeCookie,
  type CookieAttributes,
  type SameSite,
} from './cookie.js';
import { CookieTooLargeError, InvalidCookieError, InvalidOptionsError } from './errors.js';
import type { JsonValue } from './record.js';
import type { RandomSource } from './clock.js';
import type { TokenSigner } from './token.js';

/** Defaults for the application's own cookies (`CookieJar`). Every field is optional. */
export interface AppCookieOptions {
  /** Default '/'. Signed and sealed cookies always use this path. */
  readonly path?: string;
  /** Default: host-only (required for the `__Host-` prefix). Signed and sealed cookies always use this domain. */
  readonly domain?: string;
  /** Default 'lax'. 'none' needs Secure, so it fails over plain HTTP. */
  readonly sameSite?: 'lax' | 'strict' | 'none';
  /** Default true: scripts cannot read the cookie. Set false per cookie for values a script must see. */
  readonly httpOnly?: boolean;
  /**
   * Default true: a Secure cookie with Path=/ and no Domain is sent as
   * `__Host-<name>` (rfc6265bis §4.1.3.2), so that neither a sibling
   * subdomain nor a plain-HTTP page can plant or overwrite it. Code keeps
   * using the plain name.
   */
  readonly prefix?: boolean;
}

/** Per-cookie attributes of `set`. Durations in seconds, like every keycard option. */
export interface SetCookieOptions {
  /** Seconds (0 to 400 days); absent: a browser-session cookie. Note: express's `res.cookie` takes milliseconds. */
  readonly maxAge?: number;
  readonly httpOnly?: boolean;
  readonly sameSite?: 'lax' | 'strict' | 'none';
  /** Plain cookies only; default `AppCookieOptions.path`. */
  readonly path?: string;
  /** Plain cookies only; default `AppCookieOptions.domain`. */
  readonly domain?: string;
}

/** Attributes of `setSigned` / `setSealed`: path and domain are the jar's, so a re-issue after key rotation replaces the cookie exactly. */
export type ProtectedCookieOptions = Pick<SetCookieOptions, 'maxAge' | 'httpOnly' | 'sameSite'>;

/** Where to find a plain cookie to clear, when it was set with a path or domain other than the defaults. */
export type ClearCookieOptions = Pick<SetCookieOptions, 'path' | 'domain'>;

/** @internal The application-cookie settings, validated once at startup. */
export interface ResolvedAppCookies {
  readonly path: string;
  readonly domain: string | undefined;
  readonly sameSite: SameSite;
  readonly httpOnly: boolean;
  readonly prefix: boolean;
}

const SAME_SITE = { lax: 'Lax', strict: 'Strict', none: 'None' } as const;

function sameSiteOf(value: unknown, where: string, fail: (message: string) => never): SameSite {
  const sameSite = SAME_SITE[value as keyof typeof SAME_SITE];
  if (sameSite === undefined) fail(`${where}sameSite must be 'lax', 'strict' or 'none', got ${JSON.stringify(value)}`);
  return sameSite;
}

/** Applies the defaults of `AppCookieOptions` and validates them, with messages that name the option. */
export function resolveAppCookieOptions(options: AppCookieOptions = {}): ResolvedAppCookies {
  const fail = (message: string): never => {
    throw new InvalidOptionsError(`keycard: cookies.${message}`);
  };
  if (typeof options !== 'object' || options === null) fail(`must be an object`);
  const path = options.path ?? '/';
  const pathError = checkCookiePath(path);
  if (pathError) fail(pathError);
  const domainError = options.domain === undefined ? null : checkCookieDomain(options.domain);
  if (domainError) fail(domainError);
  const httpOnly = options.httpOnly ?? true;
  const prefix = options.prefix ?? true;
  if (typeof httpOnly !== 'boolean') fail('httpOnly must be true or false');
  if (typeof prefix !== 'boolean') fail('prefix must be true or false');
  return { path, domain: options.domain, sameSite: sameSiteOf(options.sameSite ?? 'lax', '', fail), httpOnly, prefix };
}

/** What one request's jar needs to know about the request. */
export interface CookieRequest {
  readonly cookieHeader: string | undefined;
  /** The request came over HTTPS, as the framework's trust-proxy setting sees it. */
  readonly requestSecure: boolean;
}

/**
 * Receives each Set-Cookie the jar produces, with the cookie's name: a later
 * header for the same name replaces the earlier one on the response.
 */
export type SetCookieSink = (name: string, setCookie: string) => void;

/**
 * Builds the per-request jars of one application: the validated defaults, the
 * codec (keys derived from keycard's secrets) and the names keycard keeps for
 * itself (the session and CSRF cookies, which no application code may read or
 * overwrite through a jar).
 */
export class AppCookies {
  readonly codec: CookieCodec;
  constructor(
    readonly settings: ResolvedAppCookies,
    signer: TokenSigner,
    readonly clock: Clock,
    random: RandomSource,
    readonly reserved: ReadonlySet<string>,
    /** keycard's `cookie.secure` rule: whether a cookie for a request over HTTPS (or not) gets `Secure`. */
    private readonly secureFor: (requestSecure: boolean) => boolean,
  ) {
    this.codec = new CookieCodec(signer, 'keycard app cookie', clock, random);
  }

  jar(request: CookieRequest, sink: SetCookieSink): CookieJar {
    return new CookieJar(this, request.cookieHeader, this.secureFor(request.requestSecure), sink);
  }
}

/**
 * One request's application cookies: read the request's, write the
 * response's. Reads show what the request carried (a `set` does not change
 * them); writes reach the response at once, merged with keycard's own
 * Set-Cookie headers. Secure defaults: HttpOnly, SameSite=Lax, Secure under
 * keycard's `cookie.secure` rule, `__Host-` when the cookie allows it.
 */
export class CookieJar {
  private parsed: Record<string, string> | null = null;
  private readonly reissued = new Set<string>();

  /** @internal Jars come from `AppCookies.jar`. */
  constructor(
    private readonly cookies: AppCookies,
    private readonly cookieHeader: string | undefined,
    /** Whether this request's cookies get `Secure` (and so may be `__Host-`). */
    readonly secure: boolean,
    private readonly sink: SetCookieSink,
  ) {}

  /**
   * A plain cookie's value (URI-decoded), or undefined. Over HTTPS the
   * `__Host-` cookie is preferred; a plain cookie carries no integrity
   * either way. keycard's own cookies are never returned.
   */
  get(name: string): string | undefined {
    this.checkName(name);
    const raw = this.raw(this.wireName(name, this.cookies.settings.path, this.cookies.settings.domain)) ?? this.raw(name);
    return raw === undefined ? undefined : decode(raw);
  }

  /** Every plain cookie of the request by its plain name (`__Host-` preferred), URI-decoded, keycard's own left out. */
  all(): Readonly<Record<string, string>> {
    const out: Record<string, string> = Object.create(null) as Record<string, string>;
    const all = this.header();
    for (const [wire, value] of Object.entries(all)) {
      if (this.cookies.reserved.has(wire)) continue;
      const name = wire.startsWith('__Host-') ? wire.slice('__Host-'.length) : wire;
      if (name !== wire || !Object.hasOwn(out, name)) out[name] = decode(value);
    }
    return out;
  }

  /** Sets a plain cookie; `value` is URI-encoded. Readable and changeable by the client: no secrets, nothing trusted. */
  set(name: string, value: string, options: SetCookieOptions = {}): void {
    if (typeof value !== 'string') throw new InvalidCookieError(`keycard: the value of cookie "${name}" must be a string`);
    this.write(name, encodeURIComponent(value), options, options.path, options.domain);
  }

  /** Expires a plain cookie (Max-Age=0). Give the path and domain it was set with, when not the defaults. */
  clear(name: string, options: ClearCookieOptions = {}): void {
    this.write(name, '', { maxAge: 0 }, options.path, options.domain);
  }

  /**
   * A signed cookie: the value stays readable by the client (do not put
   * secrets in it), and any change to it makes `getSigned` give null.
   */
  setSigned(name: string, value: string, options: ProtectedCookieOptions = {}): void {
    if (typeof value !== 'string') throw new InvalidCookieError(`keycard: the value of signed cookie "${name}" must be a string`);
    const attributes = this.envelope(options);
    this.write(name, this.cookies.codec.sign(name, value, attributes), options);
  }

  /**
   * The value of a signed cookie, or null when it is absent, changed, signed
   * for another name, or past its Max-Age. One verified under an older secret
   * is re-issued under the current one, with its remaining lifetime.
   */
  getSigned(name: string): string | null {
    this.checkName(name);
    const envelope = this.cookies.codec.verify(name, this.protectedRaw(name));
    if (!envelope) return null;
    if (envelope.stale) this.reissue(name, envelope, () => this.cookies.codec.sign(name, envelope.value, envelope));
    return envelope.value;
  }

  /** A sealed cookie (AES-256-GCM): the client can neither read nor change the value. Any JSON value. */
  setSealed(name: string, value: JsonValue, options: ProtectedCookieOptions = {}): void {
    const attributes = this.envelope(options);
    this.write(name, this.cookies.codec.seal(name, value, attributes), options);
  }

  /**
   * The value of a sealed cookie, or null when it is absent, tampered with,
   * sealed for another name, or past its Max-Age. `T` is what the caller
   * sealed; it is not checked at run time. Re-issued under the current
   * secret when an older one opened it.
   */
  getSealed<T extends JsonValue = JsonValue>(name: string): T | null {
    this.checkName(name);
    const envelope = this.cookies.codec.unseal<T>(name, this.protectedRaw(name));
    if (!envelope) return null;
    if (envelope.stale) this.reissue(name, envelope, () => this.cookies.codec.seal(name, envelope.value, envelope));
    return envelope.value;
  }

  /** Signed and sealed cookies are read under their exact wire name: no unprefixed fallback over HTTPS. */
  private protectedRaw(name: string): string | undefined {
    return this.raw(this.wireName(name, this.cookies.settings.path, this.cookies.settings.domain));
  }

  private reissue(name: string, envelope: { expiresAt: number | null; httpOnly: boolean; sameSite: SameSite }, value: () => string): void {
    if (this.reissued.has(name)) return;
    this.reissued.add(name);
    const maxAge = envelope.expiresAt === null ? undefined : Math.max(1, Math.ceil((envelope.expiresAt - this.cookies.clock.now()) / 1000));
    const sameSite = envelope.sameSite.toLowerCase() as 'lax' | 'strict' | 'none';
    this.write(name, value(), { maxAge, httpOnly: envelope.httpOnly, sameSite });
  }

  private envelope(options: ProtectedCookieOptions): { expiresAt: number | null; httpOnly: boolean; sameSite: SameSite } {
    const maxAgeError = options.maxAge === undefined ? null : checkMaxAge(options.maxAge);
    if (maxAgeError) throw new InvalidCookieError(`keycard: ${maxAgeError}`);
    return {
      expiresAt: options.maxAge === undefined ? null : this.cookies.clock.now() + options.maxAge * 1000,
      httpOnly: options.httpOnly ?? this.cookies.settings.httpOnly,
      sameSite: this.sameSite(options.sameSite),
    };
  }

  private write(name: string, value: string, options: ProtectedCookieOptions, path?: string, domain?: string): void {
    this.checkName(name);
    const settings = this.cookies.settings;
    const resolvedPath = path ?? settings.path;
    const resolvedDomain = domain ?? settings.domain;
    const problem =
      (path === undefined ? null : checkCookiePath(path)) ??
      (domain === undefined ? null : checkCookieDomain(domain)) ??
      (options.maxAge === undefined ? null : checkMaxAge(options.maxAge));
    if (problem) throw new InvalidCookieError(`keycard: cookie "${name}": ${problem}`);
    const wire = this.wireName(name, resolvedPath, resolvedDomain);
    const attributes: CookieAttributes = {
      path: resolvedPath,
      domain: resolvedDomain,
      secure: this.secure,
      httpOnly: options.httpOnly ?? settings.httpOnly,
      sameSite: this.sameSite(options.sameSite),
      maxAge: options.maxAge,
    };
    const rules = checkCookieRules(wire, attributes);
    if (rules) throw new InvalidCookieError(`keycard: cookie "${name}": ${rules}`);
    const bytes = Buffer.byteLength(wire) + Buffer.byteLength(value);
    if (bytes > MAX_COOKIE_NAME_VALUE_BYTES) throw new CookieTooLargeError(name, bytes, MAX_COOKIE_NAME_VALUE_BYTES);
    this.sink(wire, serializeCookie(wire, value, attributes));
  }

  private sameSite(value: SetCookieOptions['sameSite']): SameSite {
    if (value === undefined) return this.cookies.settings.sameSite;
    return sameSiteOf(value, '', (message) => {
      throw new InvalidCookieError(`keycard: ${message}`);
    });
  }

  /** The name on the wire: `__Host-<name>` when the cookie is Secure, Path=/ and host-only (and prefixes are on). */
  private wireName(name: string, path: string, domain: string | undefined): string {
    if (name.startsWith('__') || !this.cookies.settings.prefix) return name;
    return this.secure && path === '/' && domain === undefined ? `__Host-${name}` : name;
  }

  private checkName(name: string): void {
    const problem = checkCookieName(name);
    if (problem) throw new InvalidCookieError(`keycard: ${problem}`);
    if (this.cookies.reserved.has(name) || this.cookies.reserved.has(`__Host-${name}`)) {
      throw new InvalidCookieError(`keycard: cookie "${name}" is keycard's own (session or CSRF); choose another name`);
    }
  }

  private raw(wire: string): string | undefined {
    if (this.cookies.reserved.has(wire)) return undefined;
    const all = this.header();
    return Object.hasOwn(all, wire) ? all[wire] : undefined;
  }

  private header(): Record<string, string> {
    this.parsed ??= parseCookies(this.cookieHeader);
    return this.parsed;
  }
}

function decode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}
