/**
 * The `cache-footprint` experiment's child process (forked with
 * `--expose-gc`, so that heap figures are taken after a full collection and
 * nothing else of the runner's lives in this heap): keycard's SessionManager
 * on the real RedisStore with the real session cache, reading sessions as the
 * Nest binding does (`manager.load` with the request's cookie).
 *
 * The clock is frozen for the whole run, so that no touch falls due: the hit
 * rates are the cache's alone (a touch, once per touchInterval per session,
 * is a miss by design).
 */
import v8 from 'node:v8';
import { Redis } from 'ioredis';
import { SessionManager, type Principal } from 'keycard';
import { RedisStore } from 'keycard/redis';
import { seeded } from '../workload/random.js';
import type { CacheLimits, FootprintPlan, FootprintReply, MemoryFigures, PatternFigures, Pattern } from './protocol.js';
import { FOOTPRINT_PLAN_ENV } from './protocol.js';

const SECRET = 'cache-footprint-secret-0123456789abcdefghijklmnop';
/** A current desktop Chrome and a documentation address, as a real sign-in records them. */
const USER_AGENT = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/138.0.0.0 Safari/537.36';
const IP = '203.0.113.195';
/** Reads in flight at once, as concurrent requests would be. */
const BATCH = 64;
const SERVING_DEADLINE_MS = 10_000;

const gc = (globalThis as { gc?: () => void }).gc;
const frozen = Date.now();
const clock = { now: () => frozen };

/** The principal the reference app keeps in a session (apps/demo `principalOf`). */
function principalOf(n: number): Principal {
  return { id: `user-${n}`, roles: ['user'], authVersion: 1, claims: { email: `user${n}@example.com`, name: `User Number ${n}` } };
}

function request(cookieHeader?: string) {
  return { secure: false, userAgent: USER_AGENT, ip: IP, ...(cookieHeader === undefined ? {} : { cookieHeader }) };
}

async function signInAll(manager: SessionManager, count: number): Promise<string[]> {
  const cookies: string[] = [];
  for (let start = 0; start < count; start += BATCH) {
    const batch = Array.from({ length: Math.min(BATCH, count - start) }, async (_, i) => {
      const session = await manager.load(request());
      await session.signIn(principalOf(start + i));
      const headers = await manager.commit(session);
      const setCookie = headers.find(([name]) => name === 'Set-Cookie')?.[1];
      if (setCookie === undefined) throw new Error('a sign-in set no cookie');
      return setCookie.split(';', 1)[0] as string;
    });
    cookies.push(...(await Promise.all(batch)));
  }
  return cookies;
}

interface Reader {
  readonly manager: SessionManager;
  readonly store: RedisStore;
}

async function openReader(client: Redis, prefix: string, limits: CacheLimits | undefined): Promise<Reader> {
  const store = new RedisStore(client, { prefix });
  const manager = new SessionManager({ secrets: [SECRET], store, clock, ...(limits === undefined ? {} : { cache: limits }) });
  if (manager.cacheStats() === null) throw new Error('the session cache is off on RedisStore');
  // The cache answers only once its invalidation feed is subscribed.
  const deadline = performance.now() + SERVING_DEADLINE_MS;
  while (!(manager.store as { serving?: boolean }).serving) {
    if (performance.now() > deadline) throw new Error(`the cache's invalidation feed was not live within ${SERVING_DEADLINE_MS} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return { manager, store };
}

async function closeReader(reader: Reader): Promise<void> {
  await reader.manager.store.close();
}

/** Reads the sessions at `order` (indexes into `cookies`), BATCH at a time; tracks the cache's largest size. */
async function read(reader: Reader, cookies: readonly string[], order: readonly number[], peak: { entries: number; bytes: number }): Promise<void> {
  for (let start = 0; start < order.length; start += BATCH) {
    const batch = order.slice(start, start + BATCH).map(async (index) => {
      const session = await reader.manager.load(request(cookies[index]));
      if (session.principal === null) throw new Error(`session ${index} did not load`);
    });
    await Promise.all(batch);
    const stats = reader.manager.cacheStats();
    if (stats !== null) {
      peak.entries = Math.max(peak.entries, stats.entries);
      peak.bytes = Math.max(peak.bytes, stats.bytes);
    }
  }
}

const roundRobin = (sessions: number, passes: number): number[] => Array.from({ length: sessions * passes }, (_, i) => i % sessions);

/** `count` draws of a Zipf(s = 1) distribution over `sessions` ranks: rank k with weight 1/k. */
function zipf(sessions: number, count: number, random: () => number): number[] {
  const cdf = new Float64Array(sessions);
  let sum = 0;
  for (let k = 0; k < sessions; k++) cdf[k] = sum += 1 / (k + 1);
  const draws: number[] = [];
  for (let i = 0; i < count; i++) {
    const target = random() * sum;
    let low = 0;
    let high = sessions - 1;
    while (low < high) {
      const mid = (low + high) >> 1;
      if ((cdf[mid] as number) < target) low = mid + 1;
      else high = mid;
    }
    draws.push(low);
  }
  return draws;
}

async function measurePattern(client: Redis, prefix: string, cookies: readonly string[], sessions: number, limits: CacheLimits | undefined, pattern: Pattern, reads: number, seed: number): Promise<PatternFigures> {
  const reader = await openReader(client, prefix, limits);
  try {
    const peak = { entries: 0, bytes: 0 };
    const random = seeded(seed);
    // Warm-up: every session once, so a working set that fits is all held; Zipf then settles its recency order.
    await read(reader, cookies, roundRobin(sessions, 1), peak);
    if (pattern === 'zipf') await read(reader, cookies, zipf(sessions, sessions, random), peak);
    const before = reader.manager.cacheStats();
    const began = performance.now();
    await read(reader, cookies, pattern === 'zipf' ? zipf(sessions, reads, random) : roundRobin(sessions, Math.ceil(reads / sessions)).slice(0, reads), peak);
    const seconds = (performance.now() - began) / 1000;
    const after = reader.manager.cacheStats();
    if (before === null || after === null) throw new Error('the session cache is off');
    const hits = after.hits - before.hits;
    const misses = after.misses - before.misses;
    return {
      pattern,
      reads,
      hits,
      misses,
      bypassed: after.bypassed - before.bypassed,
      evictions: after.evictions - before.evictions,
      flushes: after.flushes,
      hitRate: hits / Math.max(1, hits + misses),
      readsPerSecond: reads / seconds,
      entries: after.entries,
      bytes: after.bytes,
      peakEntries: peak.entries,
      peakBytes: peak.bytes,
    };
  } finally {
    await closeReader(reader);
  }
}

function heapUsed(): number {
  gc?.();
  gc?.();
  return v8.getHeapStatistics().used_heap_size;
}

/** Heap after GC against entries held, filled `step` sessions at a time; the slope is the cost of one entry. */
async function measureMemory(client: Redis, prefix: string, cookies: readonly string[], sessions: number, steps: number): Promise<MemoryFigures> {
  if (gc === undefined) throw new Error('the footprint worker needs --expose-gc');
  const reader = await openReader(client, prefix, undefined);
  try {
    const points: { entries: number; heapBytes: number; estimatedBytes: number }[] = [];
    const peak = { entries: 0, bytes: 0 };
    // One read first: code paths compiled and the store's scripts loaded before the baseline.
    await read(reader, cookies, [0], peak);
    const step = Math.floor(sessions / steps);
    for (let i = 0; i <= steps; i++) {
      if (i > 0) await read(reader, cookies, Array.from({ length: step }, (_, j) => (i - 1) * step + j + 1), peak);
      const stats = reader.manager.cacheStats();
      points.push({ entries: stats?.entries ?? 0, heapBytes: heapUsed(), estimatedBytes: stats?.bytes ?? 0 });
    }
    const n = points.length;
    const mx = points.reduce((s, p) => s + p.entries, 0) / n;
    const my = points.reduce((s, p) => s + p.heapBytes, 0) / n;
    const sxy = points.reduce((s, p) => s + (p.entries - mx) * (p.heapBytes - my), 0);
    const sxx = points.reduce((s, p) => s + (p.entries - mx) ** 2, 0);
    const last = points[points.length - 1] as (typeof points)[number];
    return { points, heapBytesPerEntry: sxy / sxx, estimatedBytesPerEntry: last.estimatedBytes / Math.max(1, last.entries) };
  } finally {
    await closeReader(reader);
  }
}

async function main(): Promise<FootprintReply> {
  const plan = JSON.parse(process.env[FOOTPRINT_PLAN_ENV] ?? 'null') as FootprintPlan | null;
  if (plan === null) throw new Error(`${FOOTPRINT_PLAN_ENV} is not set: the worker is started by cache-footprint.ts`);
  const client = new Redis(plan.redisUrl, { enableOfflineQueue: true, maxRetriesPerRequest: 1, commandTimeout: 10_000 });
  try {
    const writer = new SessionManager({ secrets: [SECRET], store: new RedisStore(client, { prefix: plan.prefix }), clock, cache: false });
    const most = Math.max(plan.memory.sessions, ...plan.populations.map((population) => population.sessions));
    const began = performance.now();
    const cookies = await signInAll(writer, most);
    const signInSeconds = (performance.now() - began) / 1000;
    const memory = await measureMemory(client, plan.prefix, cookies, plan.memory.sessions, plan.memory.steps);
    const populations: FootprintReply['populations'][number][] = [];
    for (const [index, population] of plan.populations.entries()) {
      const patterns: PatternFigures[] = [];
      for (const pattern of population.patterns) {
        patterns.push(await measurePattern(client, plan.prefix, cookies, population.sessions, population.limits, pattern, population.reads, plan.seed + index));
      }
      populations.push({ ...population, patterns });
    }
    return { type: 'result', sessions: most, signInSeconds, memory, populations };
  } finally {
    client.disconnect();
  }
}

main().then(
  (reply) => {
    process.send?.(reply);
    process.disconnect?.();
  },
  (error: unknown) => {
    process.send?.({ type: 'error', message: error instanceof Error ? (error.stack ?? error.message) : String(error) });
    process.exitCode = 1;
    process.disconnect?.();
  },
);
