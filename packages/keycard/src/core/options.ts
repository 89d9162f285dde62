import { cryptoRandom, systemClock, type Clock, type RandomSource } from './clock.js';
import { checkCookieDomain, checkCookieName, checkCookiePath, checkCookieRules, type SameSite } from './cookie.js';
import { InvalidOptionsError } from './errors.js';
import type { SessionStore } from './store.js';
import type { RevocationStore } from './revocation.js';
import { SealedStore } from './sealed-store.js';
import { TokenSigner } from './token.js';

/** Options of the session engine. Durations are in seconds unless named otherwise. */
export interface SessionOptions {
  /**
   * Signing secrets, at least 32 characters each: the first signs, all verify.
   * Put a new secret first to rotate keys; cookies signed with the others are re-issued.
   */
  readonly secrets: string | readonly string[];
  /**
   * Where sessions live. Required by `SessionManager`; `SessionModule` and
   * keycard's `resolveOptions` default it to a bounded `MemoryStore` (one
   * process only).
   */
  readonly store?: SessionStore;
  /** Sign-out after this much inactivity. Default 1800 (30 minutes). */
  readonly idleTimeout?: number;
  /** Sign-out this long after sign-in, whatever the activity. Default 43200 (12 hours). */
  readonly absoluteTimeout?: number;
  /** Limits of "remember me" sessions, which also get a persistent cookie. */
  readonly remember?: {
    /** Default 1209600 (14 days). */
    readonly idleTimeout?: number;
    /** Default 2592000 (30 days). */
    readonly absoluteTimeout?: number;
  };
  /** Extend the idle expiry at most this often. Default: a tenth of `idleTimeout`, at most 300. */
  readonly touchInterval?: number;
  /** Milliseconds to wait for the store before answering 503. Default 1000. */
  readonly storeTimeout?: number;
  readonly cookie?: CookieOptions;
  /** Accept `Authorization: Bearer <token>` for clients without cookies. Default true. */
  readonly bearer?: boolean;
  /**
   * Sessions one user may hold at once (cookies and bearer tokens alike);
   * `Infinity` for no limit. Default 50, so one account cannot pile up
   * sessions without bound (each costs store memory and a device-list entry);
   * unlimited by default for a store without a per-user index
   * (`userIndex: false`: express-session stores), which cannot count them.
   */
  readonly maxSessionsPerUser?: number;
  /** What a sign-in past `maxSessionsPerUser` does. Default 'evict-oldest'. */
  readonly sessionLimitMode?: 'evict-oldest' | 'refuse';
  /**
   * The in-process session cache (docs/session-cache.md): authenticated reads
   * of a record it holds cost no store call. On by default for stores whose
   * invalidation is exact (the memory store, PGlite, Redis); off for
   * PostgreSQL, whose notifications arrive after the commit, unless
   * `acceptDelayedInvalidation` is set; never for a store that does not
   * declare how it invalidates. `false` turns it off.
   */
  readonly cache?: false | SessionCacheOptions;
  /**
   * Sealed-cookie sessions: no session store, the whole session sealed
   * (AES-256-GCM) in its cookie, at most 4 KB. Give `revocation` (a small
   * `RevocationStore`, e.g. `RedisRevocationStore`) so that sign-out and
   * "sign out everywhere" end every copy of a cookie; without it a copied
   * cookie works until it expires. Not with `store`, `maxSessionsPerUser` or
   * `bearer: true`. Default: off (sessions live in `store`).
   */
  readonly sealed?: { readonly revocation?: RevocationStore };
  /** Injected for tests. Default: the system clock and node:crypto. */
  readonly clock?: Clock;
  readonly random?: RandomSource;
}

export interface SessionCacheOptions {
  /** Most records held. Default 10 000. */
  readonly maxEntries?: number;
  /** Most bytes held, as an estimate of the heap the cached records and the cache's maps use (within 10 % on 64-bit Node.js, `session-cache.test.ts`; about 1.3 KB for a signed-in browser's session). Default 33 554 432 (32 MiB). */
  readonly maxBytes?: number;
  /**
   * Cache on a store whose invalidations reach other processes only after the
   * write committed (PostgreSQL): a session signed out on one instance can be
   * accepted by another for that delay (measured in BENCHMARKS.md). Default false.
   */
  readonly acceptDelayedInvalidation?: boolean;
}

export interface ResolvedCache {
  readonly maxEntries: number;
  readonly maxBytes: number;
  readonly acceptDelayedInvalidation: boolean;
}

export interface CookieOptions {
  /** Base name. Default 'sid'; it becomes `__Host-sid` when the cookie is Secure. */
  readonly name?: string;
  /**
   * 'auto' (default): Secure when the request came over HTTPS (as the framework's
   * trust-proxy setting sees it). true: always. false: never — an explicit relaxation.
   */
  readonly secure?: 'auto' | boolean;
  /** Default 'lax'. 'none' requires Secure. */
  readonly sameSite?: 'lax' | 'strict' | 'none';
  /** Default: host-only (required for the `__Host-` prefix). */
  readonly domain?: string;
  /** Default '/'. */
  readonly path?: string;
  /** Prefix `__Host-` (or `__Secure-` with a domain or path) when Secure. Default true. */
  readonly prefix?: boolean;
}

export interface ResolvedCookie {
  readonly secure: 'auto' | boolean;
  readonly sameSite: SameSite;
  readonly domain: string | undefined;
  readonly path: string;
  /** The cookie's name for a request that is (or is not) secure. */
  nameFor(secure: boolean): string;
}

/** Every option with its default applied, in the units the engine uses (milliseconds). */
export interface ResolvedOptions {
  readonly signer: TokenSigner;
  readonly store: SessionStore;
  /** false: no cache. */
  readonly cache: ResolvedCache | false;
  readonly clock: Clock;
  readonly random: RandomSource;
  readonly idleTimeoutMs: number;
  readonly absoluteTimeoutMs: number;
  readonly rememberIdleTimeoutMs: number;
  readonly rememberAbsoluteTimeoutMs: number;
  readonly touchIntervalMs: number;
  readonly storeTimeoutMs: number;
  readonly cookie: ResolvedCookie;
  readonly bearer: boolean;
  readonly maxSessionsPerUser: number;
  readonly sessionLimitMode: 'evict-oldest' | 'refuse';
  /** Sealed-cookie sessions (the store is then a `SealedStore`); null: store-backed. */
  readonly sealed: { readonly revocation: RevocationStore | null } | null;
}

const MIN_SECRET_LENGTH = 32;
/** SessionOptions.maxSessionsPerUser's default. */
export const DEFAULT_MAX_SESSIONS_PER_USER = 50;

function fail(message: string): never {
  throw new InvalidOptionsError(`keycard: ${message}`);
}

function seconds(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    fail(`${name} must be a positive number of seconds, got ${String(value)}`);
  }
  return value;
}

function resolveSecrets(secrets: string | readonly string[] | undefined): readonly string[] {
  const list = typeof secrets === 'string' ? [secrets] : secrets;
  if (!Array.isArray(list) || list.length === 0) {
    fail('secrets is required: give at least one random string of 32 or more characters (e.g. `openssl rand -base64 32`)');
  }
  list.forEach((secret: unknown, i: number) => {
    if (typeof secret !== 'string' || secret.length < MIN_SECRET_LENGTH) {
      const length = typeof secret === 'string' ? `${secret.length} characters` : typeof secret;
      fail(`secrets[${i}] is ${length}; each secret needs at least ${MIN_SECRET_LENGTH} random characters`);
    }
  });
  return list as readonly string[];
}

/**
 * Every attribute is checked with the rfc6265bis rules keycard's serializer
 * uses (core/cookie.ts), so nothing an option holds can add an attribute to
 * Set-Cookie (a `;` in `domain` or `path`) or make every response fail later
 * (a `__Host-` name that some request would send without Secure).
 */
function resolveCookie(options: CookieOptions = {}): ResolvedCookie {
  const base = options.name ?? 'sid';
  const badName = checkCookieName(base);
  if (badName) fail(`cookie.name ${badName}`);
  const sameSite = ({ lax: 'Lax', strict: 'Strict', none: 'None' } as const)[options.sameSite ?? 'lax'];
  if (!sameSite) fail(`cookie.sameSite must be 'lax', 'strict' or 'none', got ${String(options.sameSite)}`);
  const secure = options.secure ?? 'auto';
  if (secure !== 'auto' && typeof secure !== 'boolean') fail(`cookie.secure must be 'auto', true or false`);
  if (sameSite === 'None' && secure !== true) fail(`cookie.sameSite 'none' requires a Secure cookie (cookie.secure: true)`);
  const path = options.path ?? '/';
  const badPath = checkCookiePath(path);
  if (badPath) fail(`cookie.${badPath}`);
  const domain = options.domain;
  const badDomain = domain === undefined ? null : checkCookieDomain(domain);
  if (badDomain) fail(`cookie.${badDomain}`);
  const prefix = options.prefix ?? true;
  const securePrefix = !prefix ? '' : domain === undefined && path === '/' ? '__Host-' : '__Secure-';
  const secureName = base.startsWith('__') ? base : `${securePrefix}${base}`;
  // Every (name, Secure) pair a request can produce must serialise: check them now, not per response.
  for (const isSecure of secure === 'auto' ? [true, false] : [secure]) {
    const name = isSecure ? secureName : base;
    const broken = checkCookieRules(name, { secure: isSecure, path, domain, sameSite });
    if (broken) fail(`cookie.name ${JSON.stringify(name)} breaks the cookie prefix rules${secure === 'auto' && !isSecure ? ' when the request is plain HTTP' : ''}: ${broken}`);
  }
  return {
    secure,
    sameSite,
    domain,
    path,
    nameFor: (isSecure) => (isSecure ? secureName : base),
  };
}

/**
 * Applies every default and validates once, at startup, with messages that say
 * what to change. Per-request code never sees the option shapes. The store
 * has no default here: a core module cannot build one (see `withDefaultStore`).
 */
export function resolveOptions(options: SessionOptions): ResolvedOptions {
  if (typeof options !== 'object' || options === null) fail('options are required');
  const secrets = resolveSecrets(options.secrets);
  const idle = seconds('idleTimeout', options.idleTimeout, 1800);
  const absolute = seconds('absoluteTimeout', options.absoluteTimeout, 43_200);
  if (idle > absolute) {
    fail(`idleTimeout (${idle}s) is longer than absoluteTimeout (${absolute}s); the idle limit could never apply`);
  }
  const rememberIdle = seconds('remember.idleTimeout', options.remember?.idleTimeout, Math.max(idle, 1_209_600));
  const rememberAbsolute = seconds(
    'remember.absoluteTimeout',
    options.remember?.absoluteTimeout,
    Math.max(absolute, 2_592_000),
  );
  if (rememberIdle > rememberAbsolute) {
    fail(`remember.idleTimeout (${rememberIdle}s) is longer than remember.absoluteTimeout (${rememberAbsolute}s)`);
  }
  const touch = seconds('touchInterval', options.touchInterval, Math.min(idle / 10, 300));
  if (touch >= idle) fail(`touchInterval (${touch}s) must be shorter than idleTimeout (${idle}s)`);
  const storeTimeoutMs = options.storeTimeout ?? 1000;
  if (!Number.isFinite(storeTimeoutMs) || storeTimeoutMs <= 0) fail('storeTimeout must be a positive number of milliseconds');
  const sealed = resolveSealed(options, rememberAbsolute * 1000);
  const store = sealed?.store ?? options.store;
  if (typeof store?.find !== 'function') {
    fail("store is required: give a SessionStore, e.g. `new MemoryStore()` from 'keycard' (SessionModule defaults to one)");
  }
  const maxSessions = options.maxSessionsPerUser ?? (store.userIndex === false ? Infinity : DEFAULT_MAX_SESSIONS_PER_USER);
  if (maxSessions !== Infinity && (!Number.isInteger(maxSessions) || maxSessions < 1)) {
    fail(`maxSessionsPerUser must be a positive integer, got ${String(maxSessions)}`);
  }
  const mode = options.sessionLimitMode ?? 'evict-oldest';
  if (mode !== 'evict-oldest' && mode !== 'refuse') fail(`sessionLimitMode must be 'evict-oldest' or 'refuse'`);
  return {
    signer: new TokenSigner(secrets),
    store,
    cache: resolveCache(options.cache),
    clock: options.clock ?? systemClock,
    random: options.random ?? cryptoRandom,
    idleTimeoutMs: idle * 1000,
    absoluteTimeoutMs: absolute * 1000,
    rememberIdleTimeoutMs: rememberIdle * 1000,
    rememberAbsoluteTimeoutMs: rememberAbsolute * 1000,
    touchIntervalMs: touch * 1000,
    storeTimeoutMs,
    cookie: resolveCookie(options.cookie),
    bearer: options.bearer ?? !sealed,
    maxSessionsPerUser: maxSessions,
    sessionLimitMode: mode,
    sealed: sealed ? { revocation: sealed.revocation } : null,
  };
}

/** The `sealed` option checked against the options it excludes; null when off. */
/** The `sealed` option checked against the options it excludes; null when off. */
function resolveSealed(options: SessionOptions, maxLifetimeMs: number): { store: SessionStore; revocation: RevocationStore | null } | null {
  const sealed = options.sealed;
  if (sealed === undefined) return null;
  if (typeof sealed !== 'object' || sealed === null) fail('sealed must be an object ({} or { revocation })');
  if (options.store !== undefined) fail('sealed sessions live in their cookie: give no store (sealed.revocation is the only store they use)');
  if (options.maxSessionsPerUser !== undefined) fail('maxSessionsPerUser needs a session store; sealed sessions keep no list of a user’s sessions');
  if (options.bearer === true) fail('bearer tokens need a session store; sealed sessions travel only in their cookie');
  const revocation = sealed.revocation ?? null;
  if (revocation !== null && (typeof revocation.check !== 'function' || typeof revocation.bumpEpoch !== 'function')) {
    fail('sealed.revocation must be a RevocationStore (check, bumpEpoch, revoke)');
  }
  return { store: new SealedStore(revocation, options.clock ?? systemClock, maxLifetimeMs), revocation };
}

function resolveCache(cache: SessionOptions['cache']): ResolvedCache | false {
  if (cache === false) return false;
  if (cache !== undefined && (cache === null || typeof cache !== 'object')) fail('cache must be false or an object { maxEntries, maxBytes }');
  const maxEntries = cache?.maxEntries ?? 10_000;
  const maxBytes = cache?.maxBytes ?? 32 * 1024 * 1024;
  if (!Number.isInteger(maxEntries) || maxEntries < 1) fail(`cache.maxEntries must be a positive integer, got ${String(maxEntries)}`);
  if (!Number.isInteger(maxBytes) || maxBytes < 1024) fail(`cache.maxBytes must be an integer of at least 1024, got ${String(maxBytes)}`);
  const accept = cache?.acceptDelayedInvalidation ?? false;
  if (typeof accept !== 'boolean') fail('cache.acceptDelayedInvalidation must be a boolean');
  return { maxEntries, maxBytes, acceptDelayedInvalidation: accept };
}
