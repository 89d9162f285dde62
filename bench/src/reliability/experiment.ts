/**
 * The reliability suite is a list of experiments. Each runs at a scale —
 * `quick` in CI (`npm test`), `full` on demand (`npm run reliability`) — and
 * returns whether every invariant held plus the figures BENCHMARKS.md shows.
 */

export type Scale = 'quick' | 'full';

export interface Figure {
  readonly label: string;
  readonly value: string;
}

export interface ExperimentResult {
  /** Every invariant of the experiment held (zero wrong answers, zero resurrections, …). */
  readonly passed: boolean;
  /** What went wrong when `passed` is false, one line each, for the report and the test message. */
  readonly problems: readonly string[];
  /** Rows for the report, in order. */
  readonly figures: readonly Figure[];
  /** The raw numbers, kept in the results JSON. */
  readonly data: unknown;
}

export interface Experiment {
  readonly name: string;
  readonly title: string;
  run(scale: Scale): Promise<ExperimentResult>;
}

/** Builds a result whose `passed` is exactly "no problems". */
export function result(figures: readonly Figure[], problems: readonly string[], data: unknown): ExperimentResult {
  return { passed: problems.length === 0, problems, figures, data };
}
