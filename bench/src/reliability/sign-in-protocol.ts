/**
 * What the sign-in-load runner and its server (sign-in-server.ts) say to each
 * other over IPC, beside servers/protocol.ts's `ready`/`cpu`/`stop`. Kept
 * apart from the server file, which starts a server when imported.
 */

/** Timer interval of the server's event-loop delay monitor, ms. A raw sample is the interval plus the delay. */
export const ELD_RESOLUTION_MS = 1;

/** Accounts the runner signs in: `user<i>@example.com` (id `u-<i>`) for i < SIGN_IN_USERS, all with SIGN_IN_PASSWORD. */
export const SIGN_IN_USERS = 20;
export const SIGN_IN_PASSWORD = 'correct horse battery staple';

/**
 * The server's PasswordHasher `maxWait`, ms. The experiment measures the
 * event loop while every sign-in is served, not load shedding: with the
 * default deadline (2 s) a burst of 20 on one hashing slot of a loaded 2-core
 * machine reached it, and the refused sign-ins (503 KEYCARD_OVERLOADED; a 500
 * before verify kept OverloadedError as it is) failed the run. The bursts (20)
 * fit the default queue length (32 per slot), so nothing is refused.
 * Shedding itself is pinned by keycard's concurrency-limit tests and the
 * reference app's hardening e2e, with held work instead of timing.
 */
export const SIGN_IN_MAX_WAIT_MS = 60_000;

export type ToSignInServer =
  /** Opens a window: resets the histogram and starts sampling. */
  | { readonly type: 'eld-start' }
  /** Closes it: stops sampling and answers `eld`. */
  | { readonly type: 'eld-stop' };

export interface EventLoopDelay {
  /** Samples taken (about window / resolution). */
  readonly samples: number;
  /** Delay beyond the timer interval, ms. */
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

/**
 * CPU time the server process used in the window, split by thread: the main
 * thread (the event loop) and every other thread (libuv's pool, where argon2
 * runs; V8's helpers). Linux only (/proc/self/task); NaN elsewhere.
 */
export interface WindowCpu {
  readonly mainThreadMs: number;
  readonly otherThreadsMs: number;
}

export type FromSignInServer = { readonly type: 'eld'; readonly delay: EventLoopDelay; readonly cpu: WindowCpu };

/** Environment variable: the server's PasswordHasher `maxConcurrent`; unset keeps the library default. */
export const MAX_CONCURRENT_ENV = 'KEYCARD_BENCH_HASHER_MAX_CONCURRENT';
