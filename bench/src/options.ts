import { parseArgs } from 'node:util';

export interface BenchOptions {
  /** Interleaved rounds; medians are taken over them. */
  readonly rounds: number;
  /** Measured seconds per variant per round. */
  readonly duration: number;
  /**
   * Unmeasured seconds before each measurement (JIT, connection pools). On the
   * 2-core machine a 1 s warm-up left express-session at about twice the CPU per
   * request it settles at after 3 s, hence a default of 5.
   */
  readonly warmup: number;
  readonly connections: number;
  /** Variant names; undefined runs them all. */
  readonly only: readonly string[] | undefined;
  /** Sequential reads for the Redis command count; 0 skips it. */
  readonly commandReads: number;
  /** Where the results JSON goes; undefined is bench/results. */
  readonly outDir: string | undefined;
  /**
   * The cost and reliability experiments run after the throughput rounds:
   * undefined runs them all, [] none (`--experiments none`).
   */
  readonly experiments: readonly string[] | undefined;
  /** Run those experiments at the CI scale instead of the full one. */
  readonly quickExperiments: boolean;
  readonly help: boolean;
  readonly list: boolean;
}

export const USAGE = `usage: npm run bench -- [options]

  --rounds <n>       interleaved rounds, medians taken over them (default 3)
  --duration <s>     measured seconds per variant and round (default 10)
  --warmup <s>       unmeasured seconds before each measurement (default 5)
  --connections <n>  concurrent connections of the load generator (default 10)
  --only <names>     comma-separated variant names; their ceilings are added
  --commands <n>     sequential reads for the Redis command count, 0 skips (default 1000)
  --out <dir>        directory for the results JSON (default bench/results)
  --experiments <names>  cost and reliability experiments after the throughput
                     rounds, comma-separated, or none (default: all of them;
                     \`npm run reliability -- --help\` lists them)
  --quick-experiments    run those at the CI scale (a check, not figures)
  --list             print the variants and exit
  --help             this text`;

function positive(name: string, raw: string | undefined, fallback: number, allowZero = false): number {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0 || (value === 0 && !allowZero)) {
    throw new Error(`--${name} must be a ${allowZero ? 'non-negative' : 'positive'} number, got ${JSON.stringify(raw)}`);
  }
  return value;
}

export function parseOptions(argv: readonly string[]): BenchOptions {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      rounds: { type: 'string' },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      connections: { type: 'string' },
      only: { type: 'string' },
      commands: { type: 'string' },
      out: { type: 'string' },
      experiments: { type: 'string' },
      'quick-experiments': { type: 'boolean', default: false },
      list: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  const rounds = positive('rounds', values.rounds, 3);
  const connections = positive('connections', values.connections, 10);
  if (!Number.isInteger(rounds)) throw new Error('--rounds must be a whole number');
  if (!Number.isInteger(connections)) throw new Error('--connections must be a whole number');
  return {
    rounds,
    duration: positive('duration', values.duration, 10),
    warmup: positive('warmup', values.warmup, 5, true),
    connections,
    only: values.only
      ?.split(',')
      .map((name) => name.trim())
      .filter((name) => name !== ''),
    commandReads: Math.floor(positive('commands', values.commands, 1000, true)),
    outDir: values.out,
    experiments:
      values.experiments === undefined
        ? undefined
        : values.experiments.trim() === 'none'
          ? []
          : values.experiments.split(',').map((name) => name.trim()).filter((name) => name !== ''),
    quickExperiments: values['quick-experiments'] ?? false,
    help: values.help ?? false,
    list: values.list ?? false,
  };
}
