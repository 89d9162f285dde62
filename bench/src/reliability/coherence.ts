/**
 * The session cache across instances (issue 12): sign out on instance A,
 * then at once read with the old cookie on instance B (and C), while B's
 * event loop is kept busy by a load generator reading another session; the
 * same for "sign out everywhere" (revoke), a password change (the other
 * sessions revoked, the current one rotated) and a role change. Every reader
 * holds the session in its cache before the change (two reads first), so a
 * stale cache would show as an accepted read: each trial proves that its
 * session was answered from every reader's cache before the change (a read
 * that caused no store find, cache-probe.ts), and the run fails when a reader's
 * cache is off. Two and three instances (Fastify and Express) on one Redis,
 * keycard's defaults (the cache on). A negative control runs the same trials
 * against a cache that hears nothing of the other instances (its store claims
 * to be the only writer): the harness must count its stale answers, every kind.
 *
 * Trials run `PARALLEL` at a time (each with its own user, each one's change
 * acknowledged before its reads are sent), which adds the trials' own traffic
 * to the load on the readers.
 */
import { randomUUID } from 'node:crypto';
import { LoadGenerator } from '../harness/load.js';
import type { LoadResult } from '../harness/load-protocol.js';
import { PrivateRedis } from '../harness/redis-server.js';
import { ServerProcess } from '../harness/server-process.js';
import type { Platform } from '../servers/protocol.js';
import { INCOHERENT_ENV, probeCache, warmUntilCached, type CacheStats } from './cache-probe.js';
import { result, type Experiment, type Figure, type Scale } from './experiment.js';
import { send } from './races/harness.js';

/**
 * Trials of each kind per layout. For a run that cannot take the hours the
 * full scale takes on a loaded machine, `RELIABILITY_COHERENCE_TRIALS`
 * overrides the full count and `RELIABILITY_COHERENCE_SECONDS` stops each
 * layout's new trials after that many seconds; the figures give the count that
 * actually ran.
 */
const TRIALS: Record<Scale, number> = { quick: 8, full: 10_000 };
/** The negative control needs only to show that it is seen. */
const CONTROL_TRIALS = 4;
const PARALLEL: Record<Scale, number> = { quick: 2, full: 4 };

interface Layout {
  readonly platforms: readonly Platform[];
  /** The negative control: an incoherent cache, whose stale answers must be counted. */
  readonly control: boolean;
}

const LAYOUTS: readonly Layout[] = [
  { platforms: ['fastify', 'fastify'], control: false },
  { platforms: ['fastify', 'express', 'fastify'], control: false },
  { platforms: ['fastify', 'fastify'], control: true },
];
const LOAD_CONNECTIONS = 4;
const KINDS = ['signOut', 'revoke', 'password', 'role'] as const;
type Kind = (typeof KINDS)[number];

export interface ReaderCache {
  readonly reader: string;
  /** The reader's cacheStats() at the end; null = the cache was off. */
  readonly stats: CacheStats | null;
}

export interface LayoutCounts {
  readonly instances: string;
  readonly control: boolean;
  /** Trials of each kind that ran (fewer than `planned` only when RELIABILITY_COHERENCE_SECONDS stopped them). */
  readonly trials: number;
  readonly planned: number;
  readonly parallel: number;
  /** Reads with a dead (or stale-role) cookie that a reader answered as if nothing had happened, per kind. */
  readonly accepted: Record<Kind, number>;
  /** Reads checked per kind (trials × readers, ×2 for the password change's two cookies). */
  readonly checked: Record<Kind, number>;
  /** Sessions a reader did not answer from its cache before the change (within the warm-up deadline). */
  readonly uncached: number;
  /** Sessions a reader was shown to hold in its cache before the change. */
  readonly cached: number;
  readonly caches: readonly ReaderCache[];
  readonly failures: readonly string[];
  readonly load: { readonly requests: number; readonly seconds: number; readonly p99Ms: number; readonly non2xx: number };
  readonly seconds: number;
}

interface Tally {
  readonly accepted: Record<Kind, number>;
  readonly checked: Record<Kind, number>;
  cached: number;
  uncached: number;
}

function trialsFor(scale: Scale, layout: Layout): number {
  if (layout.control) return CONTROL_TRIALS;
  const override = Number(process.env.RELIABILITY_COHERENCE_TRIALS);
  return scale === 'full' && Number.isInteger(override) && override > 0 ? override : TRIALS[scale];
}

async function signIn(base: string, user: string): Promise<string> {
  const reply = await send(base, 'POST', `/login?user=${user}`);
  if (reply.status !== 200 || reply.cookie === undefined) throw new Error(`sign-in answered ${reply.status} ${reply.body}`);
  return reply.cookie;
}

/** Gets every cookie into every reader's cache, proven by a read without a store find. */
async function warm(readers: readonly ServerProcess[], user: string, cookies: readonly string[], tally: Tally): Promise<void> {
  for (const reader of readers) {
    for (const cookie of cookies) {
      const hit = await warmUntilCached(reader, user, async () => (await send(reader.baseUrl, 'GET', '/me', cookie)).status);
      if (hit) tally.cached++;
      else tally.uncached++;
    }
  }
}

function change(kind: Kind, writer: ServerProcess, cookie: string, role: string) {
  switch (kind) {
    case 'signOut':
      return send(writer.baseUrl, 'POST', '/logout', cookie);
    case 'revoke':
      return send(writer.baseUrl, 'POST', '/revoke', cookie);
    case 'password':
      return send(writer.baseUrl, 'POST', '/password', cookie);
    case 'role':
      return send(writer.baseUrl, 'PUT', `/roles?role=${role}`, cookie);
  }
}

/** One trial: change on `writer`, then read at once on every reader. */
async function trial(kind: Kind, writer: ServerProcess, readers: readonly ServerProcess[], n: number, tally: Tally): Promise<void> {
  const user = `u-${n}-${kind}-${randomUUID()}`;
  const first = await signIn(writer.baseUrl, user);
  const second = kind === 'password' ? await signIn(writer.baseUrl, user) : undefined;
  const cookies = second === undefined ? [first] : [first, second];
  await warm(readers, user, cookies, tally);
  const role = `r${n}`;
  const changed = await change(kind, writer, first, role);
  if (changed.status !== 204) throw new Error(`${kind} on ${writer.name} answered ${changed.status} ${changed.body}`);
  // The change is acknowledged: from here on no reader may answer as before.
  for (const reader of readers) {
    for (const cookie of cookies) {
      const reply = await send(reader.baseUrl, 'GET', '/me', cookie);
      tally.checked[kind]++;
      if (kind === 'role') {
        // The first reader rotates the refreshed session to a new id, so the old cookie is dead for
        // the next (401): stale is only a 200 with anything but the new role.
        if (reply.status === 200) {
          const roles = (JSON.parse(reply.body) as { roles: string[] }).roles;
          if (roles.length !== 1 || roles[0] !== role) tally.accepted[kind]++;
        } else if (reply.status !== 401) {
          throw new Error(`${reader.name} answered ${reply.status} after a role change`);
        }
      } else if (reply.status !== 401) {
        tally.accepted[kind]++;
      }
    }
  }
}

async function startServers(layout: Layout, redis: PrivateRedis, namespace: string): Promise<ServerProcess[]> {
  const servers: ServerProcess[] = [];
  const env: Record<string, string> = layout.control ? { [INCOHERENT_ENV]: '1' } : {};
  try {
    for (const [i, platform] of layout.platforms.entries()) {
      const name = `coherence ${String.fromCharCode(65 + i)} (${platform}${layout.control ? ', incoherent control' : ''})`;
      servers.push(await ServerProcess.start(name, '../reliability/coherence/server.js', { platform, store: 'redis', redisUrl: redis.url, namespace }, env));
    }
  } catch (error) {
    for (const server of servers) await server.stop();
    throw error;
  }
  return servers;
}

async function runLayout(layout: Layout, trials: number, parallel: number, redis: PrivateRedis, index: number): Promise<LayoutCounts> {
  const failures: string[] = [];
  const zero = () => Object.fromEntries(KINDS.map((kind) => [kind, 0])) as Record<Kind, number>;
  const tally: Tally = { accepted: zero(), checked: zero(), cached: 0, uncached: 0 };
  const loads: LoadResult[] = [];
  const started = performance.now();
  const servers = await startServers(layout, redis, `coh${index}`);
  const [writer, ...readers] = servers as [ServerProcess, ...ServerProcess[]];
  let load: LoadGenerator | undefined;
  let done = false;
  let loading: Promise<void> = Promise.resolve();
  const caches: ReaderCache[] = [];
  let ran = 0;
  try {
    const loaded = readers[0] as ServerProcess;
    // B's event loop under load for the whole run: reads of a session of its own.
    const loadCookie = await signIn(loaded.baseUrl, 'load-user');
    load = await LoadGenerator.start();
    const generator = load;
    loading = (async () => {
      while (!done) loads.push(await generator.run({ url: `${loaded.baseUrl}/me`, cookies: [loadCookie], connections: LOAD_CONNECTIONS, duration: 2 }));
    })().catch((error: unknown) => {
      if (!done) failures.push(`load generator: ${(error as Error).message}`);
    });
    let next = 0;
    const budget = Number(process.env.RELIABILITY_COHERENCE_SECONDS);
    const deadline = !layout.control && Number.isFinite(budget) && budget > 0 ? started + budget * 1000 : Infinity;
    const worker = async (): Promise<void> => {
      while (next < trials && performance.now() < deadline && failures.length <= 20) {
        const n = next++;
        for (const kind of KINDS) {
          try {
            await trial(kind, writer, readers, n, tally);
          } catch (error) {
            failures.push(`${kind} trial ${n}: ${(error as Error).message}`);
          }
        }
        ran++;
      }
    };
    await Promise.all(Array.from({ length: parallel }, worker));
    for (const reader of readers) caches.push({ reader: reader.name, stats: (await probeCache(reader)).stats });
  } finally {
    done = true;
    await loading;
    await load?.stop();
    for (const server of servers) await server.stop();
  }
  const requests = loads.reduce((sum, r) => sum + r.requests, 0);
  const seconds = loads.reduce((sum, r) => sum + r.seconds, 0);
  return {
    instances: layout.platforms.join(' + '),
    control: layout.control,
    trials: ran,
    planned: trials,
    parallel,
    accepted: tally.accepted,
    checked: tally.checked,
    cached: tally.cached,
    uncached: tally.uncached,
    caches,
    failures,
    load: {
      requests,
      seconds,
      p99Ms: Math.max(0, ...loads.map((r) => r.p99Ms).filter(Number.isFinite)),
      non2xx: loads.reduce((sum, r) => sum + r.non2xx, 0),
    },
    seconds: (performance.now() - started) / 1000,
  };
}

const LABEL: Record<Kind, string> = {
  signOut: 'sign-out on A, old cookie read on the others',
  revoke: 'revoke all on A, old cookie read on the others',
  password: 'password change on A (others revoked, current rotated), both old cookies read on the others',
  role: 'role change on A, old cookie read on the others (accepted = a 200 with the old roles)',
};

/** What must hold for a layout; for the control, that the harness saw its stale cache. */
function layoutProblems(layout: LayoutCounts): string[] {
  const name = layout.control ? `control (${layout.instances}, incoherent cache)` : layout.instances;
  const problems = layout.failures.map((failure) => `${name}: ${failure}`);
  for (const cache of layout.caches) {
    if (cache.stats === null) problems.push(`${name}: ${cache.reader} ran without the session cache`);
    else if (cache.stats.hits === 0) problems.push(`${name}: ${cache.reader}'s cache answered no read`);
  }
  if (layout.uncached > 0) problems.push(`${name}: ${layout.uncached} sessions were never answered from a reader's cache before the change`);
  for (const kind of KINDS) {
    if (layout.control && layout.accepted[kind] === 0) problems.push(`${name}: the harness did not see the stale cache accept a read after ${kind}`);
    if (!layout.control && layout.accepted[kind] > 0) problems.push(`${name}: ${layout.accepted[kind]} reads accepted after ${kind}`);
  }
  return problems;
}

function layoutFigures(layout: LayoutCounts): Figure[] {
  const name = layout.control ? `control: ${layout.instances}, incoherent cache` : layout.instances;
  const figures: Figure[] = KINDS.map((kind) => ({
    label: `${name}: ${LABEL[kind]}`,
    value: `${layout.accepted[kind]} accepted of ${layout.checked[kind]} reads (${layout.trials} trials${layout.trials < layout.planned ? ` of ${layout.planned} planned: stopped by RELIABILITY_COHERENCE_SECONDS` : ''})`,
  }));
  const perTrial = (1000 * layout.seconds * layout.parallel) / Math.max(1, layout.trials * KINDS.length);
  figures.push({
    label: `${name}: sessions held in the readers' caches before the change`,
    value: `${layout.cached} proven (a read without a store find), ${layout.uncached} not; ${layout.caches
      .map((cache) => `${cache.reader}: ${cache.stats === null ? 'cache off' : `${cache.stats.hits} hits, ${cache.stats.misses} misses, ${cache.stats.bypassed} bypassed, ${cache.stats.flushes} flushes`}`)
      .join('; ')}`,
  });
  figures.push({
    label: `${name}: load on B meanwhile, time`,
    value: `${(layout.load.requests / Math.max(layout.load.seconds, 1)).toFixed(0)} req/s, p99 ${layout.load.p99Ms.toFixed(1)} ms (${LOAD_CONNECTIONS} connections), ${layout.load.non2xx} non-2xx; ${layout.seconds.toFixed(0)} s, ${perTrial.toFixed(0)} ms per trial (${layout.parallel} in parallel)`,
  });
  return figures;
}

export const coherence: Experiment = {
  name: 'coherence',
  title: 'The session cache across instances: change on A, read at once on B (loaded) and C',
  async run(scale) {
    const redis = await PrivateRedis.start();
    const layouts: LayoutCounts[] = [];
    try {
      for (const [index, layout] of LAYOUTS.entries()) layouts.push(await runLayout(layout, trialsFor(scale, layout), PARALLEL[scale], redis, index));
    } finally {
      await redis.stop();
    }
    return result(layouts.flatMap(layoutFigures), layouts.flatMap(layoutProblems), { trials: layouts[0]?.trials, layouts });
  },
};
