/**
 * The session cache across instances (issue 12): sign out on instance A,
 * then at once read with the old cookie on instance B (and C), while B's
 * event loop is kept busy by a load generator reading another session; the
 * same for "sign out everywhere" (revoke), a password change (the other
 * sessions revoked, the current one rotated) and a role change. Every reader
 * holds the session in its cache before the change (two reads first), so a
 * stale cache would show as an accepted read. Two and three instances (Fastify
 * and Express) on one Redis, keycard's defaults (the cache on).
 */
import { randomUUID } from 'node:crypto';
import { LoadGenerator } from '../harness/load.js';
import type { LoadResult } from '../harness/load-protocol.js';
import { PrivateRedis } from '../harness/redis-server.js';
import { ServerProcess } from '../harness/server-process.js';
import type { Platform } from '../servers/protocol.js';
import { result, type Experiment, type Figure, type Scale } from './experiment.js';
import { send } from './races/harness.js';

const TRIALS: Record<Scale, number> = { quick: 10, full: 10_000 };
const LAYOUTS: readonly (readonly Platform[])[] = [
  ['fastify', 'fastify'],
  ['fastify', 'express', 'fastify'],
];
const LOAD_CONNECTIONS = 4;
const KINDS = ['signOut', 'revoke', 'password', 'role'] as const;
type Kind = (typeof KINDS)[number];

export interface LayoutCounts {
  readonly instances: string;
  readonly trials: number;
  /** Reads with a dead (or stale-role) cookie that a reader answered as if nothing had happened, per kind. */
  readonly accepted: Record<Kind, number>;
  /** Reads checked per kind (trials × readers, ×2 for the password change's two cookies). */
  readonly checked: Record<Kind, number>;
  readonly failures: readonly string[];
  readonly load: { readonly requests: number; readonly seconds: number; readonly p99Ms: number; readonly non2xx: number };
  readonly seconds: number;
}

async function signIn(base: string, user: string): Promise<string> {
  const reply = await send(base, 'POST', `/login?user=${user}`);
  if (reply.status !== 200 || reply.cookie === undefined) throw new Error(`sign-in answered ${reply.status} ${reply.body}`);
  return reply.cookie;
}

/** Two reads on each reader: the first may fill its cache, the second is served from it. */
async function warm(readers: readonly ServerProcess[], cookies: readonly string[]): Promise<void> {
  for (const reader of readers) {
    for (const cookie of cookies) {
      for (let i = 0; i < 2; i++) {
        const reply = await send(reader.baseUrl, 'GET', '/me', cookie);
        if (reply.status !== 200) throw new Error(`${reader.name}: a live session read as ${reply.status} before the change`);
      }
    }
  }
}

/** One trial: change on `writer`, then read at once on every reader. Returns [accepted, checked]. */
async function trial(kind: Kind, writer: ServerProcess, readers: readonly ServerProcess[], n: number): Promise<[number, number]> {
  const user = `u-${n}-${randomUUID()}`;
  const first = await signIn(writer.baseUrl, user);
  const second = kind === 'password' ? await signIn(writer.baseUrl, user) : undefined;
  const cookies = second === undefined ? [first] : [first, second];
  await warm(readers, cookies);
  const role = `r${n}`;
  const change =
    kind === 'signOut'
      ? await send(writer.baseUrl, 'POST', '/logout', first)
      : kind === 'revoke'
        ? await send(writer.baseUrl, 'POST', '/revoke', first)
        : kind === 'password'
          ? await send(writer.baseUrl, 'POST', '/password', first)
          : await send(writer.baseUrl, 'PUT', `/roles?role=${role}`, first);
  if (change.status !== 204) throw new Error(`${kind} on ${writer.name} answered ${change.status} ${change.body}`);
  // The change is acknowledged: from here on no reader may answer as before.
  let accepted = 0;
  let checked = 0;
  for (const reader of readers) {
    for (const cookie of cookies) {
      const reply = await send(reader.baseUrl, 'GET', '/me', cookie);
      checked++;
      if (kind === 'role') {
        // The first reader rotates the refreshed session to a new id, so the old cookie is dead for
        // the next (401): stale is only a 200 with anything but the new role.
        if (reply.status === 200) {
          const roles = (JSON.parse(reply.body) as { roles: string[] }).roles;
          if (roles.length !== 1 || roles[0] !== role) accepted++;
        } else if (reply.status !== 401) {
          throw new Error(`${reader.name} answered ${reply.status} after a role change`);
        }
      } else if (reply.status !== 401) {
        accepted++;
      }
    }
  }
  return [accepted, checked];
}

async function runLayout(platforms: readonly Platform[], trials: number, redis: PrivateRedis, index: number): Promise<LayoutCounts> {
  const namespace = `coh${index}`;
  const servers: ServerProcess[] = [];
  const failures: string[] = [];
  const accepted = Object.fromEntries(KINDS.map((kind) => [kind, 0])) as Record<Kind, number>;
  const checked = Object.fromEntries(KINDS.map((kind) => [kind, 0])) as Record<Kind, number>;
  const loads: LoadResult[] = [];
  const started = performance.now();
  let load: LoadGenerator | undefined;
  let done = false;
  let loading: Promise<void> = Promise.resolve();
  try {
    for (const [i, platform] of platforms.entries()) {
      servers.push(await ServerProcess.start(`coherence ${String.fromCharCode(65 + i)} (${platform})`, '../reliability/coherence/server.js', { platform, store: 'redis', redisUrl: redis.url, namespace }));
    }
    const [writer, ...readers] = servers as [ServerProcess, ...ServerProcess[]];
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
    for (let n = 0; n < trials; n++) {
      for (const kind of KINDS) {
        try {
          const [a, c] = await trial(kind, writer, readers, n);
          accepted[kind] += a;
          checked[kind] += c;
        } catch (error) {
          failures.push(`${kind} trial ${n}: ${(error as Error).message}`);
          if (failures.length > 20) throw new Error(failures.join('\n'));
        }
      }
    }
  } finally {
    done = true;
    await loading;
    await load?.stop();
    for (const server of servers) await server.stop();
  }
  const requests = loads.reduce((sum, r) => sum + r.requests, 0);
  const seconds = loads.reduce((sum, r) => sum + r.seconds, 0);
  return {
    instances: platforms.join(' + '),
    trials,
    accepted,
    checked,
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

export const coherence: Experiment = {
  name: 'coherence',
  title: 'The session cache across instances: change on A, read at once on B (loaded) and C',
  async run(scale) {
    const trials = TRIALS[scale];
    const redis = await PrivateRedis.start();
    const layouts: LayoutCounts[] = [];
    try {
      for (const [index, platforms] of LAYOUTS.entries()) layouts.push(await runLayout(platforms, trials, redis, index));
    } finally {
      await redis.stop();
    }
    const figures: Figure[] = [];
    const problems: string[] = [];
    for (const layout of layouts) {
      for (const kind of KINDS) {
        figures.push({ label: `${layout.instances}: ${LABEL[kind]}`, value: `${layout.accepted[kind]} accepted of ${layout.checked[kind]} reads (${layout.trials} trials)` });
        if (layout.accepted[kind] > 0) problems.push(`${layout.instances}: ${layout.accepted[kind]} reads accepted after ${kind}`);
      }
      figures.push({
        label: `${layout.instances}: load on B meanwhile`,
        value: `${(layout.load.requests / Math.max(layout.load.seconds, 1)).toFixed(0)} req/s, p99 ${layout.load.p99Ms.toFixed(1)} ms (${LOAD_CONNECTIONS} connections), ${layout.load.non2xx} non-2xx; ${layout.seconds.toFixed(0)} s`,
      });
      for (const failure of layout.failures) problems.push(`${layout.instances}: ${failure}`);
    }
    return result(figures, problems, { trials, layouts });
  },
};
