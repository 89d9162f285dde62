import { createHash } from 'node:crypto';
import { isIPv4, isIPv6 } from 'node:net';
import { clientAddress } from '../core/address.js';
import { cryptoRandom, systemClock, type Clock, type RandomSource } from '../core/clock.js';
import { InvalidOptionsError, SignInThrottledError } from '../core/errors.js';
import { withDeadline } from '../core/deadline.js';
import type { SessionEvents } from '../core/events.js';
import { DeviceCookies, type DeviceCookie } from './device-cookie.js';
import { MemoryRateLimitStore } from '../memory/memory-rate-limit-store.js';
import type { RateLimitRule, RateLimitState, RateLimitStore } from './rate-limit-store.js';

export interface LoginThrottleOptions {
  /** Where counters live; share one store between instances to share counts. Default: a `MemoryRateLimitStore`. */
  readonly store?: RateLimitStore;
  /** Failed sign-ins allowed per account within `window` (`LOGIN_MAX_ATTEMPTS`). Default 5. */
  readonly maxAttempts?: number;
  /** Seconds over which failures count (`LOGIN_WINDOW`). Default 900 (15 minutes). */
  readonly window?: number;
  /** Failed sign-ins allowed per client address (IPv6: per /64) across accounts. Default 10 × `maxAttempts`. */
  readonly maxAttemptsPerIp?: number;
  /** Seconds over which per-address failures count. Default: `window`. */
  readonly ipWindow?: number;
  /** Prefix of the store keys, so several throttles can share one store. Default 'login'. */
  readonly namespace?: string;
  /** Milliseconds to wait for the store before failing with `StoreUnavailableError`. Default 1000. */
  readonly storeTimeout?: number;
  /** Injected for tests. Default: the system clock. */
  readonly clock?: Clock;
  /**
   * Where to report refused attempts, e.g. `SessionManager.events` (in Nest,
   * `SessionService`'s manager) so audit listeners see them beside the session
   * events. Each refusal emits `signInFailed` with `reason: 'throttled'`,
   * `userId: null` and `handle: null` — never the account or the address.
   * Default: none.
   */
  readonly events?: SessionEvents;
  /**
   * Turns on device cookies (OWASP, "Slow Down Online Guessing Attacks with
   * Device Cookies"): signing secrets, 32+ characters each, the first signs
   * (the session secrets do: keys are derived for this purpose alone). A
   * browser that signed in to an account before presents the cookie
   * `recordSuccess` returned; its attempts are then counted on that device
   * alone, so failures other clients cause (on the account or from its
   * address) cannot lock it out, while its own failures still count. Without
   * it, every client shares the account's counter. Default: off.
   */
  readonly deviceSecrets?: string | readonly string[];
  /** Seconds a device cookie stays valid after it was issued. Default 15552000 (180 days). */
  readonly deviceLifetime?: number;
  /** Injected for tests. Default: node:crypto. */
  readonly random?: RandomSource;
}

/** Which counter refused an attempt, or was filled by a failure. */
export type ThrottleScope = 'account' | 'ip' | 'device';

export interface CheckOptions {
  /** The device cookie the client presented (its raw value), if any. */
  readonly device?: string | null | undefined;
}

/**
 * An admitted sign-in attempt: pass it back to `recordSuccess` when the
 * password was right. Its fields are opaque to callers.
 */
export interface LoginAttempt {
  /** The counter this attempt was charged to: the account's, or the trusted device's. */
  readonly accountKey: string;
  readonly ipKey: string | null;
  readonly at: number;
  /** Hash of the normalised account (device cookies are bound to it; events name it). */
  readonly accountHash: string;
  /** Whether a valid device cookie for the account came with the attempt. */
  readonly trustedDevice: boolean;
  /** Counters this attempt filled to their limit: if it fails, they are locked out. */
  readonly fills: readonly ThrottleScope[];
  /** The client address, when it parses as an IP (for the events' `ip`, as audit logs record it). */
  readonly ip: string | null;
}

export type ThrottleDecision =
  | { readonly allowed: true; readonly attempt: LoginAttempt }
  | {
      readonly allowed: false;
      /** Whole seconds until an attempt can be admitted again (at least 1): the `Retry-After` value. */
      readonly retryAfterSeconds: number;
      /** Which limit refused it. Do not show this to the client (it tells whether the account is under attack). */
      readonly scope: ThrottleScope;
    };

const NAMESPACE = /^[A-Za-z0-9_.-]{1,64}$/;
const DEFAULT_DEVICE_LIFETIME = 180 * 24 * 3600;
/** Characters of the account hash that events carry: enough to correlate log lines, short of the store key. */
const SUBJECT_LENGTH = 16;
/** Addresses that do not parse as IPs share this one counter (see `addressBucket`). */
export const UNPARSABLE_ADDRESS_BUCKET = 'not-an-ip';

function positive(name: string, value: number | undefined, fallback: number, integer: boolean): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || (integer && !Number.isInteger(value))) {
    const kind = integer ? 'a positive integer' : 'a positive number of seconds';
    throw new InvalidOptionsError(`keycard: login throttle ${name} must be ${kind}, got ${String(value)}`);
  }
  return value;
}

/**
 * Sign-in throttling keyed by account and by client address, framework-free.
 *
 * Defaults: 5 failures per account per 15 minutes — a sliding window, so at
 * most 20 an hour, inside OWASP ASVS 2.2.1's "no more than 100 failed attempts
 * per hour" on one account — and 50 per address per 15 minutes, looser so
 * that a shared NAT is not blocked by a few users' typos while one address
 * still cannot spray passwords across many accounts.
 *
 * Use:
 * ```ts
 * const decision = await throttle.check(email, ip);
 * if (!decision.allowed) return reply429(decision.retryAfterSeconds);
 * const result = user ? await hasher.verify(user.hash, password) : await hasher.verifyUnknown(password);
 * if (result.ok) await throttle.recordSuccess(decision.attempt); // with device cookies: set the one it returns
 * else throttle.recordFailure(decision.attempt);
 * ```
 * or, in Nest, let `assertAllowed` throw `SignInThrottledError`, which
 * `SessionExceptionFilter` answers with 429 and `Retry-After`:
 * ```ts
 * const attempt = await throttle.assertAllowed(email, req.ip);
 * ```
 *
 * `check` counts the attempt as a failure before the password is verified,
 * atomically in the store, and `recordSuccess` refunds it. Counting after
 * verification would let a burst of parallel requests all pass the check
 * before any failure is written (as many guesses as connections). A
 * failed sign-in therefore needs no call at all.
 *
 * No permanent lockout: a refused attempt is not counted, so the block ends
 * one window after the oldest counted failure however long an attacker keeps
 * trying. Past the limit even the right password is refused.
 *
 * Keys are SHA-256 of the normalised account (NFKC, trimmed, lower-cased) and
 * of the address, so a dump of Redis or the table shows no email or IP. That is
 * pseudonymisation, not secrecy (emails can be guessed and hashed); nothing
 * here logs either.
 *
 * Events: with the `events` option, every refused attempt emits
 * `signInFailed` (`reason: 'throttled'`); `recordFailure(attempt)` (call it
 * after a wrong password) emits `signInFailed` (`'bad-password'`) and
 * `lockedOut` when that failure filled a counter; a store outage emits
 * `storeUnavailable`. No user, no handle, no account, no address: the
 * account appears only as `subject`, a prefix of its hash.
 *
 * Device cookies (`deviceSecrets`, OWASP): `recordSuccess` returns a cookie
 * value bound to the account; `check(account, ip, { device })` with that
 * value counts the attempt on the device alone, so nobody can lock a user
 * out by failing on purpose, while the device's own failures still count.
 *
 * Client addresses that do not parse as IPs share one counter
 * (`addressBucket`); their text is never a key.
 */
export class LoginThrottle {
  readonly accountRule: RateLimitRule;
  readonly ipRule: RateLimitRule;
  private readonly store: RateLimitStore;
  private readonly ownsStore: boolean;
  private readonly namespace: string;
  private readonly storeTimeoutMs: number;
  private readonly clock: Clock;
  private readonly events: SessionEvents | undefined;
  private readonly devices: DeviceCookies | null;

  constructor(options: LoginThrottleOptions = {}) {
    const maxAttempts = positive('maxAttempts', options.maxAttempts, 5, true);
    const window = positive('window', options.window, 900, false);
    const maxAttemptsPerIp = positive('maxAttemptsPerIp', options.maxAttemptsPerIp, 10 * maxAttempts, true);
    const ipWindow = positive('ipWindow', options.ipWindow, window, false);
    this.storeTimeoutMs = positive('storeTimeout', options.storeTimeout, 1000, false);
    const namespace = options.namespace ?? 'login';
    if (!NAMESPACE.test(namespace)) {
      throw new InvalidOptionsError('keycard: login throttle namespace must be 1–64 characters of A-Z a-z 0-9 _ . -');
    }
    this.namespace = namespace;
    this.accountRule = Object.freeze({ limit: maxAttempts, windowMs: Math.round(window * 1000) });
    this.ipRule = Object.freeze({ limit: maxAttemptsPerIp, windowMs: Math.round(ipWindow * 1000) });
    this.ownsStore = options.store === undefined;
    this.store = options.store ?? new MemoryRateLimitStore();
    this.clock = options.clock ?? systemClock;
    this.events = options.events;
    this.devices = resolveDevices(options);
  }

  /** Whether device cookies are on (`deviceSecrets` given). */
  get deviceCookies(): boolean {
    return this.devices !== null;
  }

  /**
   * Call before verifying the password. Admits the attempt — and counts it as
   * a failure on the account and on the address until `recordSuccess` — or
   * refuses it with the seconds until the next attempt can be admitted.
   * `ip` may be null (no per-address limit then, e.g. a trusted internal caller).
   */
  async check(account: string, ip: string | null | undefined, options: CheckOptions = {}): Promise<ThrottleDecision> {
    const now = this.clock.now();
    const accountHash = hashOf(normalizeAccount(account));
    const device = this.devices?.verify(options.device, accountHash, now) ?? null;
    const address = clientAddress(ip);
    if (device !== null) return this.checkTrustedDevice(accountHash, device, now, address);
    const accountKey = this.key('a', accountHash);
    const ipKey = ip === null || ip === undefined ? null : this.key('ip', hashOf(addressBucket(ip)));
    const fills: ThrottleScope[] = [];

    // The address first: a sprayer already blocked there never touches the accounts it names.
    if (ipKey) {
      const byIp = await this.guard(this.store.consume(ipKey, now, this.ipRule), 'consume');
      if (!byIp.allowed) {
        const byAccount = await this.guard(this.store.peek(accountKey, now, this.accountRule), 'peek');
        return this.refused(now, byIp, this.ipRule, 'ip', byAccount, accountHash, address);
      }
      if (byIp.count >= this.ipRule.limit) fills.push('ip');
    }
    const byAccount = await this.guard(this.store.consume(accountKey, now, this.accountRule), 'consume');
    if (!byAccount.allowed) {
      // Not an attempt after all: give the address its slot back.
      if (ipKey) await this.guard(this.store.release(ipKey, now), 'release');
      return this.refused(now, byAccount, this.accountRule, 'account', null, accountHash, address);
    }
    if (byAccount.count >= this.accountRule.limit) fills.push('account');
    return { allowed: true, attempt: { accountKey, ipKey, at: now, accountHash, trustedDevice: false, fills, ip: address } };
  }

  /**
   * A browser that signed in to this account before: counted on its own
   * device key only, neither on the account (others' failures there do not
   * reach it) nor on the address (a neighbour behind the same NAT cannot
   * block it either). The device limit is the account limit.
   */
  private async checkTrustedDevice(accountHash: string, nonce: string, now: number, ip: string | null): Promise<ThrottleDecision> {
    const deviceKey = this.key('d', hashOf(`${accountHash}\0${nonce}`));
    const byDevice = await this.guard(this.store.consume(deviceKey, now, this.accountRule), 'consume');
    if (!byDevice.allowed) return this.refused(now, byDevice, this.accountRule, 'device', null, accountHash, ip);
    const fills: ThrottleScope[] = byDevice.count >= this.accountRule.limit ? ['device'] : [];
    return { allowed: true, attempt: { accountKey: deviceKey, ipKey: null, at: now, accountHash, trustedDevice: true, fills, ip } };
  }

  /**
   * `check`, throwing instead of answering a refusal: returns the admitted
   * attempt (for `recordSuccess`) or throws `SignInThrottledError` with the
   * `Retry-After` seconds and the scope. In Nest the error becomes 429 with
   * `Retry-After` on both platforms; the response names no account, address
   * or scope. A store failure still throws `StoreUnavailableError` (503).
   */
  async assertAllowed(account: string, ip: string | null | undefined, options: CheckOptions = {}): Promise<LoginAttempt> {
    const decision = await this.check(account, ip, options);
    if (!decision.allowed) throw new SignInThrottledError(decision.retryAfterSeconds, decision.scope);
    return decision.attempt;
  }

  /**
   * The password was right: clears the failures of the counter the attempt
   * was charged to (the account's, or the trusted device's: a sign-in from
   * the owner's browser does not forgive what other clients tried on the
   * account) and refunds this attempt on the address. The address keeps its
   * other failures, so signing in to one's own account between guesses at
   * others does not reset the per-address limit.
   *
   * With device cookies on, returns a new device cookie for the account, to
   * set on the response (HttpOnly, Secure when possible, `Max-Age: maxAge`);
   * otherwise null.
   */
  async recordSuccess(attempt: LoginAttempt): Promise<DeviceCookie | null> {
    await this.guard(this.store.reset(attempt.accountKey), 'reset');
    if (attempt.ipKey) await this.guard(this.store.release(attempt.ipKey, attempt.at), 'release');
    return this.devices?.issue(attempt.accountHash, this.clock.now()) ?? null;
  }

  /**
   * The password was wrong. Nothing to count (`check` already counted the
   * attempt); reports it: `signInFailed` with `reason: 'bad-password'`, and
   * `lockedOut` (reason: the scope) for each counter this failure filled to
   * its limit, so audit logs see lockouts as they happen. Events name the
   * account only by `subject`, a prefix of its hash.
   */
  recordFailure(attempt: LoginAttempt): void {
    const subject = attempt.accountHash.slice(0, SUBJECT_LENGTH);
    this.emit('signInFailed', attempt.at, 'bad-password', subject, attempt.ip);
    for (const scope of attempt.fills) this.emit('lockedOut', attempt.at, scope, subject, attempt.ip, scope);
  }

  /**
   * The attempt never reached a password check (hashing was overloaded, the
   * store failed meanwhile): refunds it on every counter, so the client's
   * allowance is not spent on the server's trouble.
   */
  async cancel(attempt: LoginAttempt): Promise<void> {
    await this.guard(this.store.release(attempt.accountKey, attempt.at), 'release');
    if (attempt.ipKey) await this.guard(this.store.release(attempt.ipKey, attempt.at), 'release');
  }

  /** Clears an account's failures (an administrator's unlock, a completed password reset). */
  async resetAccount(account: string): Promise<void> {
    await this.guard(this.store.reset(this.key('a', hashOf(normalizeAccount(account)))), 'reset');
  }

  /** Closes the store only when the throttle made it (the default memory store). */
  async close(): Promise<void> {
    if (this.ownsStore) await this.store.close();
  }

  private refused(
    now: number,
    state: RateLimitState,
    rule: RateLimitRule,
    scope: ThrottleScope,
    other: RateLimitState | null,
    accountHash: string,
    ip: string | null,
  ): ThrottleDecision {
    let until = (state.oldestAt ?? now) + rule.windowMs;
    // Refused by the address while the account is also at its limit: tell the later of the two.
    if (other && other.count >= this.accountRule.limit && other.oldestAt !== null) {
      until = Math.max(until, other.oldestAt + this.accountRule.windowMs);
    }
    this.emit('signInFailed', now, 'throttled', accountHash.slice(0, SUBJECT_LENGTH), ip, scope);
    return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((until - now) / 1000)), scope };
  }

  private key(kind: 'a' | 'ip' | 'd', hash: string): string {
    return `${this.namespace}:${kind}:${hash}`;
  }

  /** Events name the account only by `subject`; `ip` is there for audit logs (keycard's SecurityLog never prints it). */
  private emit(type: 'signInFailed' | 'lockedOut', at: number, reason: string, subject: string, ip: string | null, scope?: ThrottleScope): void {
    this.events?.emit({ type, handle: null, userId: null, at, reason, subject, ...(scope ? { scope } : {}), ip });
  }

  /**
   * A deadline and a typed error: a hung store answers 503 quickly instead
   * of admitting or piling up. An outage is reported as `storeUnavailable`.
   */
  private guard<T>(operation: Promise<T>, what: string): Promise<T> {
    return withDeadline(operation, this.storeTimeoutMs, what, 'rate-limit store', () =>
      this.events?.emit({ type: 'storeUnavailable', handle: null, userId: null, at: this.clock.now(), reason: `rate-limit store: ${what}` }),
    );
  }
}

/** One account however it is typed: `Alice@Example.com ` and `alice@example.com` share a counter. */
export function normalizeAccount(account: string): string {
  return account.normalize('NFKC').trim().toLowerCase();
}

function hashOf(value: string): string {
  return createHash('sha256').update(value).digest('base64url');
}

function resolveDevices(options: LoginThrottleOptions): DeviceCookies | null {
  if (options.deviceSecrets === undefined) return null;
  const secrets = typeof options.deviceSecrets === 'string' ? [options.deviceSecrets] : options.deviceSecrets;
  if (!Array.isArray(secrets) || secrets.length === 0 || secrets.some((secret) => typeof secret !== 'string' || secret.length < 32)) {
    throw new InvalidOptionsError('keycard: login throttle deviceSecrets must be one or more secrets of at least 32 characters');
  }
  const lifetime = positive('deviceLifetime', options.deviceLifetime, DEFAULT_DEVICE_LIFETIME, true);
  return new DeviceCookies(secrets, lifetime, options.random ?? cryptoRandom);
}

/**
 * The unit an address limit applies to. IPv4 and IPv4-mapped IPv6 as the IPv4
 * address; other IPv6 as its /64, because one host usually holds a whole /64
 * and could otherwise rotate addresses for free. Anything that does not parse
 * as an IP address (a proxy's placeholder, whatever a client wrote in
 * `X-Forwarded-For`) falls into one shared bucket, `UNPARSABLE_ADDRESS_BUCKET`:
 * its text is never a key, so varying it buys no fresh allowance.
 */
export function addressBucket(ip: string): string {
  const address = clientAddress(ip);
  if (address === null) return UNPARSABLE_ADDRESS_BUCKET;
  if (isIPv4(address)) return address;
  const groups = ipv6Groups(address);
  if (!groups) return UNPARSABLE_ADDRESS_BUCKET;
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    const [hi = 0, lo = 0] = groups.slice(6);
    return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  }
  return `${groups.slice(0, 4).map((g) => g.toString(16)).join(':')}::/64`;
}

/** The eight 16-bit groups of an IPv6 address (zone id dropped), or null. */
function ipv6Groups(address: string): number[] | null {
  const withoutZone = address.split('%')[0] ?? '';
  if (!isIPv6(withoutZone)) return null;
  const parse = (part: string): number[] =>
    part === ''
      ? []
      : part.split(':').flatMap((group) => {
          if (!group.includes('.')) return [Number.parseInt(group, 16)];
          const [a = 0, b = 0, c = 0, d = 0] = group.split('.').map(Number);
          return [(a << 8) | b, (c << 8) | d];
        });
  const [head = '', tail] = withoutZone.split('::');
  const front = parse(head);
  if (tail === undefined) return front;
  const back = parse(tail);
  return [...front, ...Array<number>(8 - front.length - back.length).fill(0), ...back];
}
