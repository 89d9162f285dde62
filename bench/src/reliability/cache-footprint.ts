/**
 * The session cache's cost and effect (issue 12): heap bytes per cached
 * session, and the hit rate with 1 000 and 100 000 sessions read round-robin
 * and with a skewed (Zipf, s = 1) distribution, at the default bounds
 * (10 000 entries, 32 MiB: 100 000 sessions do not fit). keycard's
 * SessionManager on the real RedisStore and the real cache, in a child
 * process with `--expose-gc` (cache-footprint/worker.ts), against a private
 * redis-server.
 *
 * Invariants: the cache never holds more than its bounds (checked after every
 * batch of reads), a working set that fits is answered entirely from the
 * cache after one warm-up pass (hit rate 1.0), one that does not fit is not
 * (hit rate < 1, evictions > 0), the feed never broke (no flush), and an entry
 * costs a plausible, positive number of heap bytes.
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { track, waitForExit } from '../harness/children.js';
import { nextMessage } from '../harness/ipc.js';
import { PrivateRedis } from '../harness/redis-server.js';
import { FOOTPRINT_PLAN_ENV, type FootprintPlan, type FootprintReply, type FromFootprintWorker, type Population } from './cache-footprint/protocol.js';
import { result, type Experiment, type Figure, type Scale } from './experiment.js';

export const DEFAULT_LIMITS = { maxEntries: 10_000, maxBytes: 32 * 1024 * 1024 } as const;

const PLANS: Record<Scale, Pick<FootprintPlan, 'populations' | 'memory'>> = {
  quick: {
    memory: { sessions: 1000, steps: 4 },
    populations: [
      { label: '1 000 sessions, default bounds', sessions: 1000, patterns: ['round-robin', 'zipf'], reads: 2000 },
      { label: '2 000 sessions, maxEntries 1 000', sessions: 2000, limits: { maxEntries: 1000 }, patterns: ['round-robin', 'zipf'], reads: 4000 },
      { label: '2 000 sessions, maxBytes 256 KiB', sessions: 2000, limits: { maxBytes: 256 * 1024 }, patterns: ['zipf'], reads: 4000 },
    ],
  },
  full: {
    memory: { sessions: 10_000, steps: 5 },
    populations: [
      { label: '1 000 sessions, default bounds', sessions: 1000, patterns: ['round-robin', 'zipf'], reads: 20_000 },
      { label: '100 000 sessions, default bounds', sessions: 100_000, patterns: ['round-robin', 'zipf'], reads: 100_000 },
    ],
  },
};

const WORKER_TIMEOUT_MS: Record<Scale, number> = { quick: 120_000, full: 1_800_000 };

/** Whether `population`'s sessions all fit in its cache, by count (bytes are checked by the run itself). */
function fitsByCount(population: Population): boolean {
  return population.sessions <= (population.limits?.maxEntries ?? DEFAULT_LIMITS.maxEntries) && population.limits?.maxBytes === undefined;
}

async function runWorker(plan: FootprintPlan, timeoutMs: number): Promise<FootprintReply> {
  const child = track(
    fork(fileURLToPath(new URL('./cache-footprint/worker.js', import.meta.url)), [], {
      execArgv: ['--expose-gc'],
      env: { ...process.env, [FOOTPRINT_PLAN_ENV]: JSON.stringify(plan) },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    }),
  );
  try {
    return await nextMessage<FromFootprintWorker, 'result'>(child, 'result', timeoutMs, () => 'cache-footprint worker');
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    await waitForExit(child, 5_000);
  }
}

const kib = (bytes: number) => `${(bytes / 1024).toFixed(0)} KiB`;
const percent = (rate: number) => `${(100 * rate).toFixed(rate === 1 || rate === 0 ? 0 : 1)} %`;

function problemsOf(reply: FootprintReply, plan: FootprintPlan): string[] {
  const problems: string[] = [];
  const perEntry = reply.memory.heapBytesPerEntry;
  // A decoded record with a principal and client info is hundreds of bytes; tens of kilobytes would be a leak.
  if (!(perEntry > 100 && perEntry < 20_000)) problems.push(`heap per cached session ${perEntry.toFixed(0)} B is implausible (expected 100 B–20 KB)`);
  for (const [index, population] of reply.populations.entries()) {
    const planned = plan.populations[index] as Population;
    const maxEntries = population.limits?.maxEntries ?? DEFAULT_LIMITS.maxEntries;
    const maxBytes = population.limits?.maxBytes ?? DEFAULT_LIMITS.maxBytes;
    for (const figures of population.patterns) {
      const name = `${population.label}, ${figures.pattern}`;
      if (figures.peakEntries > maxEntries) problems.push(`${name}: the cache held ${figures.peakEntries} entries (bound ${maxEntries})`);
      if (figures.peakBytes > maxBytes) problems.push(`${name}: the cache held ${figures.peakBytes} bytes (bound ${maxBytes})`);
      if (figures.flushes > 0) problems.push(`${name}: the cache was flushed ${figures.flushes} times (the invalidation feed broke)`);
      const fits = fitsByCount(planned) && figures.peakBytes < maxBytes;
      if (fits && figures.hitRate !== 1) problems.push(`${name}: the working set fits, yet the hit rate after warm-up was ${percent(figures.hitRate)} (${figures.misses} misses)`);
      if (!fits && figures.hitRate >= 1) problems.push(`${name}: the working set does not fit, yet every read hit (is the bound enforced?)`);
      if (!fits && figures.evictions === 0) problems.push(`${name}: the working set does not fit, yet nothing was evicted`);
    }
  }
  return problems;
}

function figuresOf(reply: FootprintReply): Figure[] {
  const { memory } = reply;
  const first = memory.points[0];
  const last = memory.points[memory.points.length - 1];
  const mib = (bytes = 0) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
  const figures: Figure[] = [
    {
      label: 'heap per cached session (slope after GC, default bounds)',
      value: `${memory.heapBytesPerEntry.toFixed(0)} B per entry (the session cache's own heap estimate, what maxBytes counts: ${memory.estimatedBytesPerEntry.toFixed(0)} B); the worker's whole heap ${mib(first?.heapBytes)} with ${first?.entries ?? 0} entry, ${mib(last?.heapBytes)} with ${last?.entries ?? 0}`,
    },
    {
      label: 'at the default bounds (10 000 entries, 32 MiB)',
      value: `about ${((DEFAULT_LIMITS.maxEntries * memory.heapBytesPerEntry) / 1024 / 1024).toFixed(1)} MiB of heap when full; the byte bound (estimate) would allow ${Math.floor(DEFAULT_LIMITS.maxBytes / Math.max(1, memory.estimatedBytesPerEntry))} such entries, so maxEntries binds first`,
    },
    { label: 'sessions signed in (real RedisStore)', value: `${reply.sessions} in ${reply.signInSeconds.toFixed(1)} s` },
  ];
  for (const population of reply.populations) {
    for (const p of population.patterns) {
      figures.push({
        label: `${population.label}: ${p.pattern}`,
        value: `hit rate ${percent(p.hitRate)} (${p.hits} hits, ${p.misses} misses of ${p.reads} reads after a warm-up pass${p.bypassed > 0 ? `, ${p.bypassed} bypassed while the feed was late` : ''}); ${p.evictions} evictions; held ${p.entries} entries, ${kib(p.bytes)} (peak ${p.peakEntries}, ${kib(p.peakBytes)}); ${p.readsPerSecond.toFixed(0)} reads/s`,
      });
    }
  }
  return figures;
}

export const cacheFootprint: Experiment = {
  name: 'cache-footprint',
  title: 'Session cache: heap per cached session, hit rate with 1 000 and 100 000 sessions (round-robin, Zipf)',
  async run(scale) {
    const redis = await PrivateRedis.start();
    try {
      const seed = Number(process.env.RELIABILITY_SEED ?? Date.now() % 2 ** 31);
      const plan: FootprintPlan = { redisUrl: redis.url, prefix: 'cachefp:', seed, ...PLANS[scale] };
      const reply = await runWorker(plan, WORKER_TIMEOUT_MS[scale]);
      return result(figuresOf(reply), problemsOf(reply, plan), { seed, plan: { ...plan, redisUrl: undefined }, ...reply });
    } finally {
      await redis.stop();
    }
  },
};
