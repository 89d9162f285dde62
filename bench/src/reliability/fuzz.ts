/**
 * Hostile input: property-based fuzzing (fast-check) of keycard's cookie,
 * token and Authorization parsers in process, then of the reference app's
 * JSON API over HTTP on an Express and a Fastify instance sharing one Redis.
 *
 * Invariants: the parsers never throw and never accept a value they did not
 * sign; the app answers no request with a 5xx (and leaves none unanswered),
 * no instance exits, and no batch of rejected requests changes the users
 * table or the sessions in Redis (see state-digest.ts for what is excluded).
 *
 * Replay a failure with the seed it prints: `FUZZ_SEED=<seed> npm run reliability`.
 */
import { randomBytes } from 'node:crypto';
import { PrivateRedis } from '../harness/redis-server.js';
import { DemoDeployment } from './demo-deployment.js';
import { result, type Experiment, type ExperimentResult, type Figure, type Scale } from './experiment.js';
import { AccountPool } from './fuzz/accounts.js';
import { describePlan, requestPlan, resolve } from './fuzz/http-cases.js';
import { runHttpFuzz, type HttpFuzzReport } from './fuzz/http-fuzzer.js';
import { LoopbackClient } from './fuzz/loopback-client.js';
import { fuzzParsers, type ParserRun } from './fuzz/parsers.js';
import { StateDigest } from './fuzz/state-digest.js';

export const FUZZ_SCALE: Record<Scale, { readonly parserCases: number; readonly httpCases: number; readonly batchSize: number }> = {
  quick: { parserCases: 2_000, httpCases: 1_500, batchSize: 25 },
  full: { parserCases: 100_000, httpCases: 100_000, batchSize: 25 },
};

const PASSWORD = 'fuzz correct horse battery';

export const fuzz: Experiment = {
  name: 'fuzz',
  title: 'Hostile input: fuzzed cookies, bearer tokens and JSON requests',
  run: (scale) => runFuzz(scale, seedFromEnvironment()),
};

export async function runFuzz(scale: Scale, seed: number): Promise<ExperimentResult> {
  const { parserCases, httpCases, batchSize } = FUZZ_SCALE[scale];
  const problems: string[] = [];
  const parsers = await fuzzParsers(parserCases, seed);
  for (const run of parsers) if (run.failure !== undefined) problems.push(`parser ${run.parser} [seed ${seed}]: ${run.failure}`);

  let http: HttpFuzzReport | undefined;
  try {
    http = await fuzzHttp(httpCases, batchSize, seed, problems);
  } catch (error) {
    problems.push(`the HTTP fuzzing could not finish [seed ${seed}]: ${error instanceof Error ? error.message : String(error)}`);
  }
  return result(figuresOf(parsers, http, seed), problems, { seed, scale, parsers, http });
}

async function fuzzHttp(cases: number, batchSize: number, seed: number, problems: string[]): Promise<HttpFuzzReport> {
  const redis = await PrivateRedis.start();
  const client = new LoopbackClient();
  let deployment: DemoDeployment | undefined;
  let digest: StateDigest | undefined;
  try {
    const run = randomBytes(4).toString('hex');
    const adminEmail = `fuzz-admin-${run}@example.test`;
    // TRUST_PROXY: the account pool signs in again from addresses of its own (see accounts.ts), and X-Forwarded-For gets fuzzed.
    // The admin is provisioned at start-up (ADMIN_EMAIL/ADMIN_PASSWORD): registration never makes one.
    deployment = await DemoDeployment.start({
      redisUrl: redis.url,
      platforms: ['express', 'fastify'],
      env: { TRUST_PROXY: 'loopback', ADMIN_EMAIL: adminEmail, ADMIN_PASSWORD: PASSWORD },
    });
    const live = deployment;
    const targets = live.instances.map((instance) => instance.url);
    const base = targets[0] as string;
    const pool = await AccountPool.register(client, base, [
      { email: adminEmail, password: PASSWORD, name: 'admin', provisioned: true },
      ...['alice', 'bob'].map((name) => ({ email: `fuzz-${name}-${run}@example.test`, password: PASSWORD, name })),
    ]);
    const decoys = ['carol', 'dave'].map((name) => ({ email: `fuzz-${name}-${run}@example.test`, password: PASSWORD, name }));
    await AccountPool.register(client, base, decoys);
    digest = await StateDigest.open(redis.url, () => live.query('SELECT * FROM users ORDER BY id'));
    const state = digest;
    const report = await runHttpFuzz({
      client,
      targets,
      cases,
      batchSize,
      seed,
      plans: requestPlan({ accounts: pool.accounts.length, decoys }, targets.length),
      resolve: (plan) => ({ target: plan.target, request: resolve(plan, pool) }),
      describe: describePlan,
      snapshot: () => state.take(),
      settle: () => pool.settle(),
      exits: () => live.exits(),
    });
    problems.push(...httpProblems(report, seed, live));
    return report;
  } finally {
    await digest?.close();
    client.close();
    await deployment?.stop();
    await redis.stop();
  }
}

function httpProblems(report: HttpFuzzReport, seed: number, deployment: DemoDeployment): string[] {
  const problems: string[] = [];
  if (report.serverErrors > 0) problems.push(`${report.serverErrors} responses ≥ 500 [seed ${seed}]`);
  if (report.noResponse > 0) problems.push(`${report.noResponse} requests got no response [seed ${seed}]`);
  if (report.stateChanges > 0) problems.push(`${report.stateChanges} batches of rejected requests changed state [seed ${seed}]`);
  problems.push(...report.exits);
  if (problems.length === 0) return [];
  problems.push(...report.offences);
  if (report.serverErrors > 0) {
    for (const instance of deployment.instances) problems.push(`${instance.platform} instance output (tail): ${instance.output().slice(-3_000)}`);
  }
  return problems;
}

function figuresOf(parsers: readonly ParserRun[], http: HttpFuzzReport | undefined, seed: number): Figure[] {
  const figures: Figure[] = [
    { label: 'Parser cases', value: parsers.map((run) => `${run.parser} ${count(run.cases)} (${run.seconds.toFixed(1)} s)`).join(' · ') },
    { label: 'Parser failures', value: String(parsers.filter((run) => run.failure !== undefined).length) },
  ];
  if (http) {
    const total = Math.max(1, http.cases);
    const classes = new Map<string, number>();
    for (const [status, n] of Object.entries(http.statuses)) {
      const key = status === 'none' ? 'no response' : status === 'reset' ? 'reset by Node’s HTTP parser' : `${status[0]}xx`;
      classes.set(key, (classes.get(key) ?? 0) + n);
    }
    const top = Object.entries(http.statuses).sort(([, a], [, b]) => b - a).slice(0, 8);
    figures.push(
      { label: 'HTTP cases (Express + Fastify)', value: count(http.cases) },
      { label: 'Requests/s (with state checks)', value: (http.cases / http.seconds).toFixed(0) },
      { label: 'Status classes', value: [...classes].sort().map(([key, n]) => `${key} ${((100 * n) / total).toFixed(1)} %`).join(' · ') },
      { label: 'Top status codes', value: top.map(([status, n]) => `${status} ×${count(n)}`).join(' · ') },
      { label: 'Batches checked (all rejected)', value: `${count(http.batchesChecked)} (${count(http.batchesWithAccepted)} with an accepted request, re-baselined)` },
      { label: 'State changes from rejected requests', value: String(http.stateChanges) },
      { label: '5xx responses', value: String(http.serverErrors) },
      { label: 'Requests without a response', value: String(http.noResponse) },
      { label: 'Process exits', value: String(http.exits.length) },
      { label: 'HTTP oddities (not the app)', value: Object.entries(http.quirks).map(([quirk, n]) => `${quirk} ×${count(n)}`).join(' · ') || 'none' },
      {
        label: 'Time: sending · checking state · re-validating credentials',
        value: `${http.timing.sending.toFixed(1)} s · ${http.timing.checking.toFixed(1)} s · ${http.timing.settling.toFixed(1)} s`,
      },
    );
  }
  figures.push({ label: 'Seed', value: String(seed) });
  return figures;
}

function count(n: number): string {
  return n.toLocaleString('en-US').replaceAll(',', ' ');
}

function seedFromEnvironment(): number {
  const given = Number(process.env['FUZZ_SEED']);
  return Number.isInteger(given) && process.env['FUZZ_SEED'] !== '' ? given | 0 : randomBytes(4).readInt32LE(0);
}
