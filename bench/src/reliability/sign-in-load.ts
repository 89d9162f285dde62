/**
 * Sign-in under load: argon2 must not block the event loop. A keycard server
 * (sign-in-server.ts) on a private Redis answers authenticated reads from a
 * closed loop of readers (autocannon in the load-worker process), first alone
 * ("before"), then while bursts of 20 concurrent sign-ins, each verifying an
 * argon2id hash, run from this process ("during"). The server reports its
 * event-loop delay for each window over IPC.
 *
 * Reported, not asserted: read p50/p99 and event-loop delay p99 before and
 * during, sign-in latency and rate. Checked: every sign-in answers 200 with a
 * working cookie and every read answers 200 (the server lifts the hasher's
 * wait deadline, SIGN_IN_MAX_WAIT_MS: this measures the loop, not shedding). The argon2 computations compete
 * with the event loop for the cores; PasswordHasher runs at most cores − 1
 * at once (its `maxConcurrent`), which on 2 cores leaves one to the loop.
 * Reads can still slow down during sign-ins with a free event loop: the
 * event-loop delay and the per-thread CPU tell the two apart.
 */
import { performance } from 'node:perf_hooks';
import { LatencyRecorder } from '../harness/latency.js';
import { LoadGenerator } from '../harness/load.js';
import type { LoadResult } from '../harness/load-protocol.js';
import { PrivateRedis } from '../harness/redis-server.js';
import { cookieHeader } from '../harness/sign-in.js';
import { ServerProcess } from '../harness/server-process.js';
import type { Platform, ServerConfig } from '../servers/protocol.js';
import { result, type Experiment, type ExperimentResult, type Figure, type Scale } from './experiment.js';
import {
  ELD_RESOLUTION_MS,
  MAX_CONCURRENT_ENV,
  SIGN_IN_PASSWORD,
  SIGN_IN_USERS,
  type EventLoopDelay,
  type FromSignInServer,
  type ToSignInServer,
  type WindowCpu,
} from './sign-in-protocol.js';

const CONCURRENT_SIGN_INS = 20;
/** libuv's default thread pool: as many hashes at once as there were before PasswordHasher limited them. */
const UNLIMITED_BY_KEYCARD = 4;
const READERS = 10;

/** The sign-in server in its own process, with the event-loop delay windows of its own protocol. */
class SignInServer {
  private constructor(private readonly server: ServerProcess) {}

  static async start(config: ServerConfig, maxConcurrent: number | undefined): Promise<SignInServer> {
    const env: Record<string, string> = maxConcurrent === undefined ? {} : { [MAX_CONCURRENT_ENV]: String(maxConcurrent) };
    return new SignInServer(await ServerProcess.start(`sign-in server (${config.platform})`, '../reliability/sign-in-server.js', config, env));
  }

  get baseUrl(): string {
    return this.server.baseUrl;
  }

  startWindow(): void {
    this.server.post({ type: 'eld-start' } satisfies ToSignInServer);
  }

  async stopWindow(): Promise<{ delay: EventLoopDelay; cpu: WindowCpu }> {
    const { delay, cpu } = await this.server.ask<FromSignInServer, 'eld'>({ type: 'eld-stop' } satisfies ToSignInServer, 'eld');
    return { delay, cpu };
  }

  output(): string {
    return this.server.output();
  }

  stop(): Promise<void> {
    return this.server.stop();
  }
}

interface SignInOutcome {
  readonly status: number;
  readonly cookie: string;
  readonly userId: string | undefined;
  readonly ms: number;
  /** For a failure report: the error code and Retry-After of a refusal (a 503 says whether it was the hashing queue). */
  readonly detail: string;
}

async function signIn(baseUrl: string, user: number): Promise<SignInOutcome> {
  const start = performance.now();
  let response: Response;
  let text: string;
  try {
    response = await fetch(`${baseUrl}/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: `user${user}@example.com`, password: SIGN_IN_PASSWORD }),
    });
    text = await response.text();
  } catch {
    // No answer at all (connection refused or reset): a failed sign-in, status 0.
    return { status: 0, cookie: '', userId: undefined, ms: performance.now() - start, detail: 'no answer' };
  }
  const ms = performance.now() - start;
  let body: { user?: { id?: string }; code?: string } = {};
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    // Not JSON: reported by status alone.
  }
  const retryAfter = response.headers.get('retry-after');
  const detail = [body.code, retryAfter === null ? undefined : `Retry-After ${retryAfter}`].filter(Boolean).join(', ');
  return { status: response.status, cookie: cookieHeader(response.headers.getSetCookie()), userId: body.user?.id, ms, detail };
}

/** `GET /me` with a cookie answers 200 and the user it was issued to. */
async function readsAs(baseUrl: string, cookie: string, userId: string): Promise<boolean> {
  const response = await fetch(`${baseUrl}/me`, { headers: { cookie } });
  const body = await response.text();
  return response.status === 200 && (JSON.parse(body) as { id?: string }).id === userId;
}

/** Keeps the outcomes of sign-ins and what went wrong with them. */
class SignIns {
  readonly latencies = new LatencyRecorder();
  readonly failures: string[] = [];
  readonly lastCookies: { cookie: string; userId: string }[] = [];
  count = 0;

  async burst(baseUrl: string): Promise<void> {
    const outcomes = await Promise.all(Array.from({ length: CONCURRENT_SIGN_INS }, (_, i) => signIn(baseUrl, i % SIGN_IN_USERS)));
    this.lastCookies.length = 0;
    outcomes.forEach((outcome, i) => {
      this.count++;
      this.latencies.record(outcome.ms);
      const expected = `u-${i % SIGN_IN_USERS}`;
      if (outcome.status !== 200 || outcome.cookie === '' || outcome.userId !== expected) {
        const detail = outcome.detail === '' ? '' : ` (${outcome.detail})`;
        this.failures.push(`sign-in answered ${outcome.status}${detail}${outcome.cookie === '' ? ' without a cookie' : ''} for ${expected}`);
      } else {
        this.lastCookies.push({ cookie: outcome.cookie, userId: expected });
      }
    });
  }
}

export interface Phase {
  readonly reads: number;
  readonly readP50Ms: number;
  readonly readP99Ms: number;
  readonly readNon2xx: number;
  readonly readErrors: number;
  readonly eventLoop: EventLoopDelay;
  /** The server's CPU in the window: event-loop thread against the others (argon2's pool). */
  readonly cpu: WindowCpu;
}

export interface PlatformResult {
  readonly platform: Platform;
  /** The hasher's `maxConcurrent`: undefined is the library default (cores − 1). */
  readonly maxConcurrent: number | undefined;
  readonly before: Phase;
  readonly during: Phase;
  readonly signIns: number;
  readonly signInFailures: number;
  readonly signInP50Ms: number;
  readonly signInP99Ms: number;
  readonly signInsPerSecond: number;
  /** Cookies of the last burst that were read back with GET /me (all of them, when nothing failed). */
  readonly cookiesChecked: number;
}

export interface SignInLoadData {
  readonly windowSeconds: number;
  readonly readers: number;
  readonly concurrentSignIns: number;
  readonly threadpoolSize: number;
  readonly eldResolutionMs: number;
  readonly platforms: readonly PlatformResult[];
}

function phase(load: LoadResult, window: { delay: EventLoopDelay; cpu: WindowCpu }): Phase {
  return {
    reads: load.requests,
    readP50Ms: load.p50Ms,
    readP99Ms: load.p99Ms,
    readNon2xx: load.non2xx,
    readErrors: load.errors + load.timeouts,
    eventLoop: window.delay,
    cpu: window.cpu,
  };
}

async function measurePlatform(
  platform: Platform,
  maxConcurrent: number | undefined,
  redisUrl: string,
  load: LoadGenerator,
  windowSeconds: number,
  problems: string[],
): Promise<PlatformResult> {
  const server = await SignInServer.start({ platform, store: 'redis', redisUrl, namespace: `signin-${platform}-${maxConcurrent ?? 'default'}` }, maxConcurrent);
  try {
    const first = await signIn(server.baseUrl, 0);
    if (first.status !== 200 || first.cookie === '') throw new Error(`setup sign-in answered ${first.status}: ${server.output()}`);
    if (!(await readsAs(server.baseUrl, first.cookie, 'u-0'))) throw new Error('GET /me with the setup cookie did not answer the user');
    const reads = { url: `${server.baseUrl}/me`, cookies: [first.cookie], connections: READERS };

    // Warm-up: JIT, connections, argon2's first allocations; not measured.
    const warmup = new SignIns();
    await warmup.burst(server.baseUrl);
    await load.run({ ...reads, duration: Math.min(2, windowSeconds / 4) });

    server.startWindow();
    const before = phase(await load.run({ ...reads, duration: windowSeconds }), await server.stopWindow());

    const signIns = new SignIns();
    server.startWindow();
    let readsDone = false;
    const during = load.run({ ...reads, duration: windowSeconds }).then(async (loadResult) => {
      readsDone = true;
      return phase(loadResult, await server.stopWindow());
    });
    during.catch(() => {}); // awaited below; a failure here must not surface as an unhandled rejection first
    const started = performance.now();
    while (!readsDone) await signIns.burst(server.baseUrl);
    const signInSeconds = (performance.now() - started) / 1000;
    const duringPhase = await during;

    let cookiesChecked = 0;
    for (const { cookie, userId } of signIns.lastCookies) {
      if (await readsAs(server.baseUrl, cookie, userId)) cookiesChecked++;
      else problems.push(`${platform}: a cookie from a sign-in under load does not read back its user`);
    }
    for (const failure of [...warmup.failures, ...signIns.failures].slice(0, 5)) problems.push(`${platform}: ${failure}`);
    const failed = warmup.failures.length + signIns.failures.length;
    if (failed > 5) problems.push(`${platform}: … ${failed} failed sign-ins in all`);
    for (const [name, p] of [['before', before], ['during', duringPhase]] as const) {
      if (p.readNon2xx > 0 || p.readErrors > 0) problems.push(`${platform} ${name}: ${p.readNon2xx} reads answered non-2xx, ${p.readErrors} failed`);
      if (p.reads === 0) problems.push(`${platform} ${name}: no read completed`);
    }
    if (signIns.count === 0) problems.push(`${platform}: no sign-in ran during the window`);

    const [p50 = Number.NaN, p99 = Number.NaN] = signIns.latencies.percentiles(50, 99);
    return {
      platform,
      maxConcurrent,
      before,
      during: duringPhase,
      signIns: signIns.count,
      signInFailures: signIns.failures.length,
      signInP50Ms: p50,
      signInP99Ms: p99,
      signInsPerSecond: signIns.count / signInSeconds,
      cookiesChecked,
    };
  } finally {
    await server.stop();
  }
}

const ms = (value: number): string => `${value.toFixed(1)} ms`;

/** "fastify" for the library default, "fastify, 4 hashes at once" for an explicit maxConcurrent. */
function labelOf(p: PlatformResult): string {
  return p.maxConcurrent === undefined ? `${p.platform}, default maxConcurrent` : `${p.platform}, maxConcurrent ${p.maxConcurrent}`;
}

function figuresOf(platforms: readonly PlatformResult[]): Figure[] {
  return platforms.flatMap((result): Figure[] => {
    const p = { ...result, platform: labelOf(result) };
    return [
      { label: `${p.platform}: read p50 / p99, before`, value: `${ms(p.before.readP50Ms)} / ${ms(p.before.readP99Ms)} (${p.before.reads} reads)` },
      { label: `${p.platform}: read p50 / p99, during sign-ins`, value: `${ms(p.during.readP50Ms)} / ${ms(p.during.readP99Ms)} (${p.during.reads} reads)` },
      { label: `${p.platform}: event-loop delay p99 (max), before`, value: `${ms(p.before.eventLoop.p99Ms)} (${ms(p.before.eventLoop.maxMs)})` },
      { label: `${p.platform}: event-loop delay p99 (max), during sign-ins`, value: `${ms(p.during.eventLoop.p99Ms)} (${ms(p.during.eventLoop.maxMs)})` },
      {
        label: `${p.platform}: server CPU, event-loop thread / other threads, before → during`,
        value: `${ms(p.before.cpu.mainThreadMs)} / ${ms(p.before.cpu.otherThreadsMs)} → ${ms(p.during.cpu.mainThreadMs)} / ${ms(p.during.cpu.otherThreadsMs)}`,
      },
      {
        label: `${p.platform}: sign-in p50 / p99 (${CONCURRENT_SIGN_INS} concurrent, argon2id)`,
        value: `${ms(p.signInP50Ms)} / ${ms(p.signInP99Ms)}, ${p.signInsPerSecond.toFixed(1)} sign-ins/s (${p.signIns} in all)`,
      },
    ];
  });
}

export const signInLoad: Experiment = {
  name: 'sign-in-load',
  title: 'Sign-in under load: 20 concurrent argon2id sign-ins while authenticated reads run',
  async run(scale: Scale): Promise<ExperimentResult> {
    const windowSeconds = scale === 'full' ? 10 : 2;
    const problems: string[] = [];
    const platforms: PlatformResult[] = [];
    const redis = await PrivateRedis.start();
    const load = await LoadGenerator.start().catch(async (error: unknown) => {
      await redis.stop();
      throw error;
    });
    try {
      // The library default next to 4 at once (libuv's pool size, what every hash got before the limit), in one run.
      for (const platform of ['fastify', 'express'] as const) {
        for (const maxConcurrent of [undefined, UNLIMITED_BY_KEYCARD]) {
          platforms.push(await measurePlatform(platform, maxConcurrent, redis.url, load, windowSeconds, problems));
        }
      }
    } finally {
      await load.stop();
      await redis.stop();
    }
    const data: SignInLoadData = {
      windowSeconds,
      readers: READERS,
      concurrentSignIns: CONCURRENT_SIGN_INS,
      threadpoolSize: Number(process.env['UV_THREADPOOL_SIZE'] ?? 4),
      eldResolutionMs: ELD_RESOLUTION_MS,
      platforms,
    };
    return result(figuresOf(platforms), problems, data);
  },
};
