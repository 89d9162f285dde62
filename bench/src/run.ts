/**
 * `npm run bench`: every variant in a server process of its own, the load
 * generator in another, interleaved over rounds; prints the tables of
 * BENCHMARKS.md and writes the raw samples to bench/results/.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CommandCount } from './harness/monitor-line.js';
import { describeCommands } from './harness/monitor-line.js';
import { describeMachine } from './harness/machine.js';
import { dropTable, postgresVersion } from './harness/postgres.js';
import { PrivateRedis } from './harness/redis-server.js';
import { packageVersions } from './harness/versions.js';
import { countVariantCommands, measureVariant, namespaceOf, type Backends } from './measure.js';
import { parseOptions, USAGE, type BenchOptions } from './options.js';
import { renderChart } from './report/chart.js';
import { renderResults, renderVersions } from './report/markdown.js';
import type { Failure, ResultsFile, Sample } from './report/results.js';
import { parseExperimentNames } from './reliability/experiments.js';
import { renderReliability } from './reliability/report.js';
import { DEFAULT_OUT_DIR, runSuite, writeSuiteResults } from './reliability/suite.js';
import { roundOrder } from './schedule.js';
import { missingPieces, selectVariants, VARIANTS, type Variant } from './variants.js';

const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/test';
const benchDir = fileURLToPath(new URL('../..', import.meta.url));

function log(line: string): void {
  console.log(line);
}

function errorLine(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function printVariants(): void {
  for (const variant of VARIANTS) {
    const missing = missingPieces(variant);
    log(`${variant.label.padEnd(3)} ${variant.name.padEnd(26)} ${variant.title}${missing ? `  [${missing}]` : ''}`);
  }
}

/** What one run measures: the variants this machine can run, and why the others are skipped. */
interface Plan {
  readonly runnable: readonly Variant[];
  readonly skipped: readonly { readonly variant: string; readonly reason: string }[];
}

function planOf(options: BenchOptions): Plan {
  const runnable: Variant[] = [];
  const skipped: { variant: string; reason: string }[] = [];
  for (const variant of selectVariants(options.only)) {
    const reason = missingPieces(variant);
    if (reason === undefined) runnable.push(variant);
    else skipped.push({ variant: variant.name, reason });
  }
  return { runnable, skipped };
}

/** The run's header: machine, scale, versions, skipped variants. */
function logHeader(options: BenchOptions, plan: Plan, machine: ResultsFile['machine'], versions: Record<string, string>): void {
  log(`keycard bench: ${machine.nproc} cores (${machine.cpuModel}), Node ${machine.node}, load average ${machine.loadAverage.start.toFixed(2)}`);
  log(`${options.rounds} round(s) × ${options.duration} s, warm-up ${options.warmup} s, ${options.connections} connections`);
  log('');
  log(renderVersions({ versions }));
  log('');
  for (const { variant, reason } of plan.skipped) log(`skipping ${variant}: ${reason}`);
}

/** Redis commands per authenticated read, for every Redis variant. */
async function countCommands(
  variants: readonly Variant[],
  reads: number,
  backends: Backends,
  failures: Failure[],
): Promise<Record<string, CommandCount>> {
  const commands: Record<string, CommandCount> = {};
  for (const variant of variants.filter((v) => v.store === 'redis')) {
    try {
      const count = await countVariantCommands(variant, reads, backends);
      commands[variant.name] = count;
      log(`commands  ${variant.name.padEnd(26)} ${count.perRead.toFixed(2)} per read: ${describeCommands(count)}`);
    } catch (error) {
      failures.push({ variant: variant.name, phase: 'commands', message: errorLine(error) });
      log(`commands  ${variant.name.padEnd(26)} FAILED: ${errorLine(error)}`);
    }
  }
  return commands;
}

/** The throughput rounds: every variant once per round, in an order that rotates between rounds. */
async function measureRounds(variants: readonly Variant[], options: BenchOptions, backends: Backends, failures: Failure[]): Promise<Sample[]> {
  const samples: Sample[] = [];
  for (let round = 1; round <= options.rounds; round++) {
    for (const variant of roundOrder(variants, round - 1)) {
      const prefix = `round ${round}/${options.rounds}  ${variant.name.padEnd(26)}`;
      try {
        const sample = await measureVariant(variant, round, options, backends);
        samples.push(sample);
        log(
          `${prefix} ${sample.rps.toFixed(0).padStart(6)} req/s  p50 ${sample.p50Ms.toFixed(2)} ms  ` +
            `p99 ${sample.p99Ms.toFixed(2)} ms  ${sample.cpuMicrosPerRequest.toFixed(0)} µs CPU/req`,
        );
      } catch (error) {
        failures.push({ variant: variant.name, phase: round, message: errorLine(error) });
        log(`${prefix} FAILED: ${errorLine(error)}`);
      }
    }
  }
  return samples;
}

/** Writes the results next to earlier runs (one file per run, named by its start time); returns the path. */
function writeResults(results: ResultsFile, options: BenchOptions, startedAt: Date): string {
  const outDir = options.outDir === undefined ? join(benchDir, 'results') : resolve(options.outDir);
  mkdirSync(outDir, { recursive: true });
  // One file per run, named by its start time, so a short check never overwrites a real run.
  const file = join(outDir, `${startedAt.toISOString().replaceAll(':', '-').replace(/\.\d+Z$/, 'Z')}.json`);
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
  writeFileSync(file.replace(/\.json$/, '.svg'), renderChart(results));
  return file;
}

/** The cost and reliability experiments after the rounds; sets a failing exit code when one fails. */
async function runExperiments(options: BenchOptions, names: ReturnType<typeof parseExperimentNames>): Promise<void> {
  log('');
  log(`cost and reliability experiments (${options.quickExperiments ? 'quick' : 'full'} scale)`);
  const suite = await runSuite(options.quickExperiments ? 'quick' : 'full', names, log);
  log('');
  log(renderReliability(suite));
  const suiteFile = writeSuiteResults(suite, options.outDir === undefined ? DEFAULT_OUT_DIR : join(resolve(options.outDir), 'reliability'));
  log('');
  log(`experiment results written to ${relative(process.cwd(), suiteFile)}`);
  if (suite.experiments.some((experiment) => !experiment.passed)) process.exitCode = 1;
}

async function main(options: BenchOptions): Promise<void> {
  // Checked before the throughput rounds, not ten minutes into the run.
  const experimentNames = options.experiments?.length === 0 ? [] : parseExperimentNames(options.experiments?.join(','));
  const plan = planOf(options);
  const { runnable } = plan;

  const startedAt = new Date();
  const machine = describeMachine();
  const databaseUrl = process.env.BENCH_DATABASE_URL ?? DEFAULT_DATABASE_URL;
  const versions: Record<string, string> = { ...packageVersions(), 'redis-server': await PrivateRedis.version() };
  if (runnable.some((variant) => variant.store === 'postgres')) versions.postgresql = await postgresVersion(databaseUrl);
  logHeader(options, plan, machine, versions);

  const failures: Failure[] = [];
  let samples: Sample[] = [];
  let commands: Record<string, CommandCount> = {};
  const redis = runnable.some((variant) => variant.store === 'redis') ? await PrivateRedis.start() : undefined;
  const backends: Backends = { redis: redis && { url: redis.url, port: redis.port }, databaseUrl };
  if (redis) log(`private redis-server on port ${redis.port}`);
  try {
    if (options.commandReads > 0) commands = await countCommands(runnable, options.commandReads, backends, failures);
    samples = await measureRounds(runnable, options, backends, failures);
  } finally {
    await redis?.stop();
    for (const variant of runnable.filter((v) => v.store === 'postgres')) {
      await dropTable(databaseUrl, namespaceOf(variant)).catch((error: unknown) => {
        log(`could not drop table ${namespaceOf(variant)}: ${errorLine(error)}`);
      });
    }
  }

  machine.loadAverage.end = os.loadavg()[0] ?? 0;
  const results: ResultsFile = {
    schema: 1,
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    options: {
      rounds: options.rounds,
      duration: options.duration,
      warmup: options.warmup,
      connections: options.connections,
      commandReads: options.commandReads,
    },
    machine,
    versions,
    variants: runnable.map(({ name, label, title, platform, ceiling, keycard, store }) => ({ name, label, title, platform, ceiling, keycard, store })),
    skipped: [...plan.skipped],
    samples,
    failures,
    commands,
  };
  log('');
  log(renderResults(results));
  const file = writeResults(results, options, startedAt);
  log('');
  log(`results written to ${relative(process.cwd(), file)} and its chart beside it as .svg (render again with: node bench/dist/src/render.js ${relative(process.cwd(), file)}, node bench/dist/src/chart.js)`);
  if (failures.length > 0) process.exitCode = 1;

  if (experimentNames?.length !== 0) await runExperiments(options, experimentNames);
}

let options: BenchOptions;
try {
  options = parseOptions(process.argv.slice(2));
} catch (error) {
  console.error(`${errorLine(error)}\n\n${USAGE}`);
  process.exit(2);
}
if (options.help) {
  log(USAGE);
} else if (options.list) {
  printVariants();
} else {
  main(options).then(
    // Experiments close what they open; exit anyway in case a client library keeps a timer alive.
    () => process.exit(process.exitCode ?? 0),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
}
