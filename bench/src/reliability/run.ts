/**
 * `npm run reliability`: the reliability and cost experiments in full
 * (`-- --quick` for the CI scale), without the throughput comparison that
 * `npm run bench` runs first. Prints each experiment's figures and the
 * markdown for BENCHMARKS.md, writes the raw data to bench/results/reliability/,
 * and exits 1 when any invariant failed.
 */
import { relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { EXPERIMENTS, parseExperimentNames } from './experiments.js';
import type { Scale } from './experiment.js';
import { renderReliability } from './report.js';
import { DEFAULT_OUT_DIR, runSuite, writeSuiteResults } from './suite.js';

const USAGE = `usage: npm run reliability -- [options]

  --quick          the CI scale (seconds per experiment) instead of the full one
  --only <names>   comma-separated experiment names (${EXPERIMENTS.map((experiment) => experiment.name).join(', ')})
  --out <dir>      directory for the results JSON (default bench/results/reliability)
  --help           this text`;

function parse(argv: readonly string[]): { scale: Scale; only: string[] | undefined; out: string | undefined; help: boolean } {
  const { values } = parseArgs({
    args: [...argv],
    options: { quick: { type: 'boolean', default: false }, only: { type: 'string' }, out: { type: 'string' }, help: { type: 'boolean', default: false } },
    strict: true,
  });
  return { scale: values.quick ? 'quick' : 'full', only: parseExperimentNames(values.only), out: values.out, help: values.help ?? false };
}

async function main(): Promise<void> {
  let options: ReturnType<typeof parse>;
  try {
    options = parse(process.argv.slice(2));
  } catch (error) {
    console.error(`${(error as Error).message}\n\n${USAGE}`);
    process.exit(2);
  }
  if (options.help) return console.log(USAGE);
  console.log(`keycard reliability suite (${options.scale} scale)`);
  const file = await runSuite(options.scale, options.only, (line) => console.log(line));
  console.log(`\n${renderReliability(file)}`);
  const path = writeSuiteResults(file, options.out === undefined ? DEFAULT_OUT_DIR : resolve(options.out));
  console.log(`\nresults written to ${relative(process.cwd(), path)}`);
  if (file.experiments.some((entry) => !entry.passed)) process.exitCode = 1;
}

main().then(
  // Every experiment closes its clients and children; exit anyway in case a library keeps a timer alive.
  () => process.exit(process.exitCode ?? 0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
