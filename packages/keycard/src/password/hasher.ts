import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { hash as argon2Hash, parseOptions, verify as argon2Verify, type Options as Argon2Options } from '@node-rs/argon2';
import { InvalidOptionsError, KeycardError, OverloadedError } from '../core/errors.js';
import { BcryptVerifier } from './bcrypt.js';
import { ConcurrencyLimit } from './limit.js';
import {
  checkPassword,
  DEFAULT_PASSWORD_POLICY,
  exceedsMaxLength,
  normalizePassword,
  type PasswordPolicy,
  type PasswordProblem,
} from './policy.js';

/** Argon2 cost parameters as they appear in a PHC string (`m=`, `t=`, `p=`). */
export interface Argon2Parameters {
  /** Memory in KiB. */
  readonly memoryCost: number;
  /** Passes over memory. */
  readonly timeCost: number;
  /** Lanes. */
  readonly parallelism: number;
}

/**
 * OWASP Password Storage Cheat Sheet, argon2id: "a minimum configuration of
 * 19 MiB of memory, an iteration count of 2, and 1 degree of parallelism".
 * About 38 ms per hash on one core of the machines this was measured on.
 */
export const OWASP_ARGON2ID: Argon2Parameters = Object.freeze({ memoryCost: 19_456, timeCost: 2, parallelism: 1 });

export interface PasswordHasherOptions extends Partial<Argon2Parameters>, Partial<PasswordPolicy> {
  /**
   * argon2 computations (hash or verify) running at once; the rest queue.
   * Default: the number of cores minus one, and at most libuv's thread pool
   * minus one (at least 1), so a burst of sign-ins leaves a core to the
   * event loop (authenticated reads stay fast) and a pool thread to file
   * and DNS work. Without it libuv's 4 threads run 4 at once and, on a
   * 2-core machine, starve the main thread (bench: sign-in-load). In a
   * container with a CPU quota, set it to the quota's cores minus one.
   */
  readonly maxConcurrent?: number;
  /**
   * argon2 computations allowed to wait for a slot; past it, `hash`,
   * `verify` and `verifyUnknown` reject at once with `OverloadedError`
   * (HTTP 503 with `Retry-After`) instead of queueing without limit. Default
   * 32 × `maxConcurrent`: at ~40 ms a hash, a full queue drains in about 1.3 s.
   * 0 means nothing waits.
   */
  readonly maxQueued?: number;
  /**
   * Milliseconds a computation may wait for a slot before it is refused with
   * `OverloadedError` (it never runs then). Default 2000. Bounds what a
   * sign-in costs in waiting when a flood fills the queue.
   */
  readonly maxWait?: number;
}

/** The outcome of a verification: a wrong password is a value, not an exception. */
export interface VerifyResult {
  readonly ok: boolean;
  /**
   * True when `ok` and the stored hash should be replaced by `hash(password)`:
   * bcrypt, argon2i/argon2d, other argon2 parameters, or a hash that matched
   * only the un-normalised password. Always false when `ok` is false.
   */
  readonly needsRehash: boolean;
}

/** `hash` refused a password that breaks the policy; `problem` says which rule. */
export class PasswordPolicyError extends KeycardError {
  readonly problem: PasswordProblem;
  constructor(problem: PasswordProblem, message: string) {
    super('KEYCARD_PASSWORD_POLICY', message);
    this.problem = problem;
  }
}

/** A stored hash is neither argon2 (PHC) nor bcrypt; the message never includes the hash. */
export class UnsupportedHashError extends KeycardError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('KEYCARD_UNSUPPORTED_HASH', message, options);
  }
}

const FAILED: VerifyResult = Object.freeze({ ok: false, needsRehash: false });
const BCRYPT = /^\$2[aby]\$\d{2}\$[./A-Za-z0-9]{53}$/;
// The values of @node-rs/argon2's const enums, which `isolatedModules` cannot read from its .d.ts.
const ARGON2ID = 2;
const VERSION_0x13 = 1;
const OUTPUT_LENGTH = 32;
/** Default queue length per concurrent slot (see `maxQueued`). */
const QUEUED_PER_SLOT = 32;
const DEFAULT_MAX_WAIT_MS = 2000;
/** bcrypt reads only this many bytes of a password (the rest is silently ignored). */
const BCRYPT_MAX_BYTES = 72;
const SALT_LENGTH = 16;

function integer(name: string, value: number | undefined, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new InvalidOptionsError(`keycard: password ${name} must be an integer from ${min} to ${max}, got ${String(value)}`);
  }
  return value;
}

/**
 * Hashes new passwords with argon2id and verifies argon2 and legacy bcrypt
 * hashes, reporting when a hash should be upgraded at this sign-in.
 *
 * Off the event loop: argon2 runs on libuv's thread pool (@node-rs/argon2's
 * async API), so the main thread stays free while a hash takes ~40 ms; at most
 * `maxConcurrent` (default: cores − 1) run at once and the rest queue, so the
 * hashing never takes every core from the event loop.
 * bcrypt (bcryptjs, pure JS) runs on a worker thread, because in-process it
 * blocks the loop for its whole cost factor (~400 ms at cost 12). Call
 * `close()` at shutdown to stop that worker (it never keeps the process alive).
 *
 * Unknown accounts: `verifyUnknown(password)` verifies against a dummy hash
 * made with the same parameters when the hasher was built, so "no such email"
 * takes as long as "wrong password" (see bench/src/password-timing.ts).
 */
export class PasswordHasher {
  readonly parameters: Argon2Parameters;
  readonly policy: PasswordPolicy;
  /** argon2 computations allowed at once (`maxConcurrent`). */
  get maxConcurrent(): number {
    return this.limit.size;
  }
  /** Computations allowed to wait for a slot (`maxQueued`). */
  readonly maxQueued: number;
  /** Milliseconds a computation may wait for a slot (`maxWait`). */
  readonly maxWait: number;
  private readonly argon2: Argon2Options;
  private readonly dummy: Promise<string>;
  private readonly bcrypt = new BcryptVerifier();
  private readonly limit: ConcurrencyLimit;

  constructor(options: PasswordHasherOptions = {}) {
    // Lower bounds are argon2's own (RFC 9106 §3.1: m >= 8p); the defaults are the secure choice.
    const parallelism = integer('parallelism', options.parallelism, OWASP_ARGON2ID.parallelism, 1, 255);
    const memoryCost = integer('memoryCost', options.memoryCost, OWASP_ARGON2ID.memoryCost, 8 * parallelism, 4_194_304);
    const timeCost = integer('timeCost', options.timeCost, OWASP_ARGON2ID.timeCost, 1, 1_000);
    const maxLength = integer('maxLength', options.maxLength, DEFAULT_PASSWORD_POLICY.maxLength, 1, 4_096);
    const minLength = integer('minLength', options.minLength, DEFAULT_PASSWORD_POLICY.minLength, 1, maxLength);
    const maxConcurrent = integer('maxConcurrent', options.maxConcurrent, defaultMaxConcurrent(), 1, 1_024);
    this.maxQueued = integer('maxQueued', options.maxQueued, QUEUED_PER_SLOT * maxConcurrent, 0, 100_000);
    this.maxWait = integer('maxWait', options.maxWait, DEFAULT_MAX_WAIT_MS, 1, 600_000);
    this.limit = new ConcurrencyLimit(maxConcurrent, { maxQueued: this.maxQueued, maxWaitMs: this.maxWait, work: 'password hashing' });
    this.parameters = Object.freeze({ memoryCost, timeCost, parallelism });
    this.policy = Object.freeze({ minLength, maxLength });
    this.argon2 = { algorithm: ARGON2ID, version: VERSION_0x13, memoryCost, timeCost, parallelism, outputLen: OUTPUT_LENGTH };
    // Made now, in the background, so the first unknown-account sign-in is not slower than the rest.
    this.dummy = this.limit.run(() => argon2Hash(randomBytes(32).toString('base64url'), this.argon2));
    this.dummy.catch(() => {
      // Surfaces from verifyUnknown, which awaits the same promise.
    });
  }

  /**
   * An argon2id PHC string for a new password. Rejects with
   * `PasswordPolicyError` when the password breaks the policy (length is
   * checked before any hashing, so a megabyte "password" costs nothing).
   */
  async hash(password: string): Promise<string> {
    const check = checkPassword(password, this.policy);
    if (!check.ok) throw new PasswordPolicyError(check.problem, check.message);
    const normalized = normalizePassword(password);
    return this.limit.run(() => argon2Hash(normalized, this.argon2));
  }

  /**
   * Verifies `password` against a stored argon2 (id, i, d) or bcrypt
   * (`$2a$`, `$2b$`, `$2y$`) hash. A password longer than the policy's
   * maximum fails at once, unhashed. The NFKC form is tried first; when it
   * fails and the input differs from it, the input as typed is tried too (for
   * hashes made without normalisation) — `verifyUnknown` does the same, so the
   * number of hash computations never depends on whether the account exists.
   * Rejects with `UnsupportedHashError` for any other hash format.
   *
   * bcrypt reads only the first 72 bytes of a password, so a legacy hash
   * would also match any longer input that starts with those bytes, and the
   * argon2id upgrade would then store the attacker's suffix as the password
   * (locking the owner out). So a bcrypt hash is only ever checked against
   * inputs of at most 72 UTF-8 bytes: a longer one fails, unhashed, and is
   * never upgraded. Accounts whose real password is longer than 72 bytes are
   * migrated offline instead (README, "Sign-in: passwords and throttling").
   * `needsRehash` is true for every bcrypt match.
   */
  async verify(hash: string, password: string): Promise<VerifyResult> {
    if (BCRYPT.test(hash)) {
      if (exceedsMaxLength(password, this.policy.maxLength)) return FAILED;
      const usable = candidates(password).filter((candidate) => Buffer.byteLength(candidate, 'utf8') <= BCRYPT_MAX_BYTES);
      if (usable.length === 0) return FAILED;
      const ok = await this.bcrypt.verify(hash, usable);
      return ok ? { ok: true, needsRehash: true } : FAILED;
    }
    const current = this.argon2Current(hash);
    if (exceedsMaxLength(password, this.policy.maxLength)) return FAILED;
    const normalized = normalizePassword(password);
    if (await this.argon2Verify(hash, normalized)) return { ok: true, needsRehash: !current };
    if (normalized !== password && (await this.argon2Verify(hash, password))) return { ok: true, needsRehash: true };
    return FAILED;
  }

  /**
   * The failure path for an account that does not exist: does the same work
   * as `verify` with a wrong password against a current hash, and always
   * returns `{ ok: false, needsRehash: false }`.
   */
  async verifyUnknown(password: string): Promise<VerifyResult> {
    const dummy = await this.dummy;
    if (exceedsMaxLength(password, this.policy.maxLength)) return FAILED;
    const normalized = normalizePassword(password);
    await this.argon2Verify(dummy, normalized);
    if (normalized !== password) await this.argon2Verify(dummy, password);
    return FAILED;
  }

  /**
   * Whether a stored hash differs from what `hash` makes now (algorithm,
   * version or parameters). Throws `UnsupportedHashError` for unknown formats.
   */
  needsRehash(hash: string): boolean {
    return BCRYPT.test(hash) || !this.argon2Current(hash);
  }

  /** Stops the bcrypt worker, if one was started. */
  async close(): Promise<void> {
    await this.bcrypt.close();
  }

  /** Parses the PHC string (throwing for non-argon2 input) and says whether it matches the current parameters. */
  private argon2Current(hash: string): boolean {
    let parsed;
    try {
      parsed = parseOptions(hash);
    } catch (cause) {
      throw new UnsupportedHashError('stored password hash is neither argon2 (PHC string) nor bcrypt', { cause });
    }
    return (
      parsed.algorithm === ARGON2ID &&
      parsed.version === VERSION_0x13 &&
      parsed.memoryCost === this.parameters.memoryCost &&
      parsed.timeCost === this.parameters.timeCost &&
      parsed.parallelism === this.parameters.parallelism &&
      parsed.outputLen === OUTPUT_LENGTH &&
      parsed.saltLen >= SALT_LENGTH
    );
  }

  private async argon2Verify(hash: string, password: string): Promise<boolean> {
    try {
      return await this.limit.run(() => argon2Verify(hash, password));
    } catch (cause) {
      // A full queue is not a bad hash: it must stay a 503 (it was a 500 KEYCARD_UNSUPPORTED_HASH for sign-ins).
      if (cause instanceof OverloadedError) throw cause;
      throw new UnsupportedHashError('stored argon2 hash could not be decoded', { cause });
    }
  }
}

/**
 * Cores − 1, and at most libuv's thread pool − 1 (`UV_THREADPOOL_SIZE`,
 * default 4): hashing leaves a core to the event loop and a pool thread to
 * file system and DNS work; at least 1.
 */
export function defaultMaxConcurrent(): number {
  const pool = Number(process.env.UV_THREADPOOL_SIZE) || 4;
  return Math.max(1, Math.min(availableParallelism() - 1, pool - 1));
}

/** The NFKC form, then the input as typed when it differs (see `verify`). */
function candidates(password: string): string[] {
  const normalized = normalizePassword(password);
  return normalized === password ? [password] : [normalized, password];
}
