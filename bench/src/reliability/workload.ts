/**
 * The mixed workload: simulated users registering, signing in on several
 * devices, reading, listing, revoking, changing passwords and signing out,
 * against two and then three instances of the reference app (Express and
 * Fastify) on one Redis, each answer checked against a model of what that
 * client must see. The app runs as shipped: its Redis session store has the
 * session cache on, and each instance's cache hits are read from its
 * /metrics (METRICS=1) to check that it was.
 * Redis is killed (SIGKILL) part-way and restarted, and later hung (SIGSTOP,
 * connections open, no answers) and resumed: no instance may exit, reads that
 * need a session must answer within the store timeout (with 503) while it is
 * down or hung, and service must be back within 2 s of Redis returning.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { PrivateRedis } from '../harness/redis-server.js';
import { DemoDeployment, type CacheLookups } from './demo-deployment.js';
import { result, type Experiment, type ExperimentResult, type Figure, type Scale } from './experiment.js';
import { traffic } from './workload/device.js';
import { Journal } from './workload/journal.js';
import { errorWindows, Probe, type Window } from './workload/probe.js';
import { seeded } from './workload/random.js';
import { SimulatedUser } from './workload/user.js';

interface Size {
  readonly users: number;
  readonly seconds: number;
  /** When Redis is killed, as a fraction of the run. */
  readonly killAt: number;
  readonly outageSeconds: number;
  /** When Redis is hung (SIGSTOP), as a fraction of the run, and for how long. */
  readonly hangAt: number;
  readonly hangSeconds: number;
}

const SIZES: Record<Scale, Size> = {
  quick: { users: 8, seconds: 16, killAt: 0.25, outageSeconds: 2, hangAt: 0.65, hangSeconds: 2.5 },
  full: { users: 40, seconds: 90, killAt: 0.3, outageSeconds: 5, hangAt: 0.7, hangSeconds: 5 },
};

/** keycard's default storeTimeout, which the demo keeps. */
const STORE_TIMEOUT_MS = 1000;
/** Scheduling slack on a loaded 2-core machine, on top of the bound. */
const BOUND_SLACK_MS = 250;
/** The bound: service back within 2 s of Redis returning. */
const RECOVERY_MS = 2000;

function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
}

type Platforms = readonly ('express' | 'fastify')[];
const LAYOUTS: readonly Platforms[] = [
  ['express', 'fastify'],
  ['express', 'fastify', 'express'],
];

export interface LayoutData {
  readonly instances: string;
  readonly wrong: number;
  readonly operations: Record<string, number>;
  readonly windows: readonly Window[];
  readonly hangWindows: readonly Window[];
  /** Each instance's session cache lookups over the run, from its /metrics. */
  readonly cache: readonly CacheLookups[];
  readonly [field: string]: unknown;
}

export const workload: Experiment = {
  name: 'workload',
  title: 'Mixed workload on two and three instances and one Redis, session cache on, checked against a model; Redis killed, then hung, mid-run',
  async run(scale) {
    const size = SIZES[scale];
    const seed = Number(process.env.RELIABILITY_SEED ?? Date.now() % 2 ** 31);
    const outcomes: ExperimentResult[] = [];
    for (const platforms of LAYOUTS) outcomes.push(await runLayout(platforms, size, seed));
    return result(
      outcomes.flatMap((outcome) => outcome.figures),
      outcomes.flatMap((outcome) => outcome.problems),
      { seed, size, layouts: outcomes.map((outcome) => outcome.data) },
    );
  },
};

async function runLayout(platforms: Platforms, size: Size, seed: number): Promise<ExperimentResult> {
  const name = `${platforms.length} instances`;
  const dir = await mkdtemp(join(tmpdir(), 'keycard-workload-redis-'));
  let redis: PrivateRedis | undefined;
  let deployment: DemoDeployment | undefined;
  try {
    redis = await PrivateRedis.start({ appendOnlyDir: dir });
    // LOGIN_MAX_ATTEMPTS: a 503 during a password change leaves the model two candidate passwords to try.
    // REGISTER_MAX_PER_IP: every simulated user registers from the loopback address.
    // METRICS=1: each instance's cache hits, read from /metrics, show that its session cache was on.
    deployment = await DemoDeployment.start({
      redisUrl: redis.url,
      platforms,
      env: { LOGIN_MAX_ATTEMPTS: '1000', REGISTER_MAX_PER_IP: '1000000', METRICS: '1' },
    });
    const instances = deployment.instances.map((instance) => instance.url);
    const clock = { killedAt: Infinity, restartedAt: Infinity, pausedAt: Infinity, resumedAt: Infinity };
    const within = (sentAt: number, doneAt: number, start: number, end: number) => doneAt >= start && sentAt <= end + RECOVERY_MS;
    const journal = new Journal({
      allows503: (sentAt, doneAt) =>
        within(sentAt, doneAt, clock.killedAt, clock.restartedAt) || within(sentAt, doneAt, clock.pausedAt, clock.resumedAt),
    });
    const probe = new Probe(instances);
    await probe.signIn();
    const cacheBefore = await deployment.cacheLookups();
    const requestsBefore = traffic.requests;
    const started = performance.now();
    const deadline = started + size.seconds * 1000;
    const users = Array.from({ length: size.users }, (_, index) => new SimulatedUser({ instances, journal, random: seeded(seed + index + 1), deadline }));
    const crashes: string[] = [];
    const running = Promise.all([
      ...users.map((user) => user.run().catch((error: unknown) => void crashes.push(String(error)))),
      probe.run(deadline),
    ]);

    await delay(size.seconds * 1000 * size.killAt);
    clock.killedAt = performance.now();
    await redis.kill();
    await delay(size.outageSeconds * 1000);
    // "Redis returned" is when its process starts: the instances may reconnect before our own readiness check does.
    clock.restartedAt = performance.now();
    await redis.restart();
    await delay(Math.max(0, started + size.seconds * 1000 * size.hangAt - performance.now()));
    clock.pausedAt = performance.now();
    redis.pause();
    await delay(size.hangSeconds * 1000);
    clock.resumedAt = performance.now();
    redis.resume();
    await running;
    const seconds = (performance.now() - started) / 1000;
    const requests = traffic.requests - requestsBefore;
    for (const user of users) await user.verifyAll();
    const cacheAfter = await deployment.cacheLookups();
    const cache = cacheAfter.map((after, index) => ({ hit: after.hit - (cacheBefore[index]?.hit ?? 0), miss: after.miss - (cacheBefore[index]?.miss ?? 0) }));

    // Each fault's probe samples: the kill's up to the hang, the hang's from 2 s after the restart.
    const killSamples = probe.samples.filter((sample) => sample.at + sample.ms < clock.pausedAt);
    const hangSamples = probe.samples.filter((sample) => sample.at > clock.restartedAt + RECOVERY_MS);
    const windows = errorWindows(killSamples, instances.length, clock.killedAt, clock.restartedAt);
    const hangWindows = errorWindows(hangSamples, instances.length, clock.pausedAt, clock.resumedAt);
    const problems = [...journal.wrong.map((line) => `wrong answer: ${line}`), ...crashes, ...deployment.exits()];
    if (journal.wrongCount > journal.wrong.length) problems.push(`… ${journal.wrongCount - journal.wrong.length} more wrong answers`);
    problems.push(...windowProblems(windows, 'killed'), ...windowProblems(hangWindows, 'hung'));
    const bound = STORE_TIMEOUT_MS + BOUND_SLACK_MS;
    const slowest503 = Math.max(0, ...journal.read503Ms, ...probe.samples.filter((sample) => sample.status === 503).map((sample) => sample.ms));
    if (slowest503 > bound) {
      problems.push(`a read needing the session took ${slowest503.toFixed(0)} ms to answer 503 (bound ${STORE_TIMEOUT_MS} ms + ${BOUND_SLACK_MS} ms slack)`);
    }
    // While Redis is hung nothing answers: every read sent then must still finish within the bound, whatever its status.
    const hungReads = [...journal.sessionReads, ...probe.samples].filter(
      (read) => read.at >= clock.pausedAt && read.at + bound <= clock.resumedAt,
    );
    const slowestHung = Math.max(0, ...hungReads.map((read) => read.ms));
    if (hungReads.length === 0) problems.push('no read was sent while Redis was hung: the fault was not exercised');
    if (slowestHung > bound) problems.push(`a read sent while Redis was hung took ${slowestHung.toFixed(0)} ms (bound ${bound} ms)`);
    if (journal.outageAnswers === 0) problems.push('no request saw the outage: the fault was not exercised');
    for (const [index, lookups] of cache.entries()) {
      if (lookups.hit === 0) problems.push(`instance ${index + 1}: its session cache answered no read (is it on?)`);
    }

    const figures: Figure[] = [
      { label: 'simulated users, instances', value: `${size.users} users (+1 probe), ${platforms.join(' + ')} on one Redis, ${seconds.toFixed(1)} s, seed ${seed}` },
      { label: 'requests', value: `${requests} (${(requests / seconds).toFixed(0)}/s) in ${Object.values(journal.operations).reduce((a, b) => a + b, 0)} operations` },
      { label: 'operations', value: Object.entries(journal.operations).map(([name, n]) => `${name} ${n}`).join(', ') },
      { label: 'wrong answers', value: String(journal.wrongCount) },
      { label: 'refused by the hashing queue (503 KEYCARD_OVERLOADED + Retry-After, nothing changed)', value: String(journal.overloadedAnswers) },
      { label: 'process exits', value: String(deployment.exits().length) },
      {
        label: 'session cache lookups per instance (from /metrics)',
        value: cache.map((lookups, index) => `${index + 1}: ${lookups.hit} hits, ${lookups.miss} misses (${((100 * lookups.hit) / Math.max(1, lookups.hit + lookups.miss)).toFixed(0)} %)`).join('; '),
      },
      { label: 'Redis down (SIGKILL → restarted)', value: `${(clock.restartedAt - clock.killedAt).toFixed(0)} ms` },
      { label: '503s while down or recovering', value: `${journal.outageAnswers + probe.samples.filter((s) => s.status === 503).length}; reads' 503 latency p50 ${quantile(journal.read503Ms, 0.5).toFixed(0)} ms, max ${slowest503.toFixed(0)} ms (store timeout ${STORE_TIMEOUT_MS} ms)` },
      ...windows.map((window) => ({
        label: `instance ${window.instance + 1} (${deployment?.instances[window.instance]?.platform}) error window, Redis killed`,
        value:
          window.backAfterRestartMs === undefined
            ? 'no error seen'
            : `first 503 ${window.firstErrorAfterKillMs?.toFixed(0)} ms after the kill, 200 again ${window.backAfterRestartMs.toFixed(0)} ms after Redis returned (window ${window.errorWindowMs.toFixed(0)} ms)`,
      })),
      { label: 'Redis hung (SIGSTOP → SIGCONT)', value: `${(clock.resumedAt - clock.pausedAt).toFixed(0)} ms; ${hungReads.length} reads sent while hung, slowest answered in ${slowestHung.toFixed(0)} ms (store timeout ${STORE_TIMEOUT_MS} ms)` },
      ...hangWindows.map((window) => ({
        label: `instance ${window.instance + 1} (${deployment?.instances[window.instance]?.platform}) error window, Redis hung`,
        value:
          window.backAfterRestartMs === undefined
            ? 'no error seen'
            : `first 503 ${window.firstErrorAfterKillMs?.toFixed(0)} ms after the hang began, 200 again ${window.backAfterRestartMs.toFixed(0)} ms after it ended (window ${window.errorWindowMs.toFixed(0)} ms)`,
      })),
    ];
    // The instances log unexpected errors with their stack: keep that evidence with a failed run.
    const logs = problems.length === 0 ? undefined : deployment.instances.map((instance) => instance.output().slice(-8000));
    for (const [index, log] of (logs ?? []).entries()) {
      const errors = log.split('\n').filter((line) => /error/i.test(line)).slice(-5);
      if (errors.length > 0) problems.push(`instance ${index + 1} logged: ${errors.join(' ⏎ ')}`);
    }
    const data: LayoutData = {
      instances: platforms.join(' + '),
      seconds,
      requests,
      operations: journal.operations,
      statuses: journal.statuses,
      windows,
      hangWindows,
      slowest503,
      slowestHung,
      wrong: journal.wrongCount,
      cache,
      logs,
    };
    return result(
      figures.map((figure) => ({ ...figure, label: `${name}: ${figure.label}` })),
      problems.map((problem) => `${name}: ${problem}`),
      data,
    );
  } finally {
    await deployment?.stop();
    await redis?.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

function windowProblems(windows: readonly Window[], fault: 'killed' | 'hung'): string[] {
  const problems: string[] = [];
  for (const window of windows) {
    const name = `instance ${window.instance + 1} (Redis ${fault})`;
    if (window.unexpected.length > 0) problems.push(`${name}: the probe got ${[...new Set(window.unexpected)].join(', ')} (only 503 is acceptable)`);
    if (window.firstErrorAfterKillMs === undefined) problems.push(`${name}: the probe never saw the outage`);
    else if (window.backAfterRestartMs === undefined) problems.push(`${name}: never answered 200 again after Redis returned`);
    else if (window.backAfterRestartMs > RECOVERY_MS) problems.push(`${name}: back ${window.backAfterRestartMs.toFixed(0)} ms after Redis returned (bound ${RECOVERY_MS} ms)`);
  }
  return problems;
}
