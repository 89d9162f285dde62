import os from 'node:os';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describeMachine } from '../harness/machine.js';
import type { ExperimentResult, Scale } from './experiment.js';
import { EXPERIMENTS } from './experiments.js';
import type { ReliabilityFile } from './report.js';

export const DEFAULT_OUT_DIR = fileURLToPath(new URL('../../../results/reliability', import.meta.url));

/**
 * Runs the named experiments (all when `only` is undefined) one after the
 * other, printing each one's figures as it ends. An experiment that throws
 * counts as failed with the error as its problem; the others still run.
 */
export async function runSuite(scale: Scale, only: readonly string[] | undefined, log: (line: string) => void): Promise<ReliabilityFile> {
  const machine = describeMachine();
  const startedAt = new Date();
  const experiments: ReliabilityFile['experiments'][number][] = [];
  for (const experiment of EXPERIMENTS.filter((entry) => only === undefined || only.includes(entry.name))) {
    log(`\n▶ ${experiment.name}: ${experiment.title}`);
    const begun = performance.now();
    let outcome: ExperimentResult;
    try {
      outcome = await experiment.run(scale);
    } catch (error) {
      const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
      outcome = { passed: false, problems: [`could not run: ${message}`], figures: [], data: undefined };
    }
    const seconds = (performance.now() - begun) / 1000;
    for (const figure of outcome.figures) log(`  ${figure.label}: ${figure.value}`);
    for (const problem of outcome.problems) log(`  ✗ ${problem}`);
    log(`  ${outcome.passed ? 'passed' : 'FAILED'} in ${seconds.toFixed(1)} s`);
    experiments.push({ name: experiment.name, title: experiment.title, seconds, ...outcome });
  }
  machine.loadAverage.end = os.loadavg()[0] ?? 0;
  return { schema: 1, scale, startedAt: startedAt.toISOString(), finishedAt: new Date().toISOString(), machine, experiments };
}

/** Writes the suite's results as `<start time>-<scale>.json` under `dir`; returns the path. */
export function writeSuiteResults(file: ReliabilityFile, dir: string): string {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${file.startedAt.replaceAll(':', '-').replace(/\.\d+Z$/, 'Z')}-${file.scale}.json`);
  writeFileSync(path, `${JSON.stringify(file, null, 2)}\n`);
  return path;
}
