import type { Machine } from '../harness/machine.js';
import type { ExperimentResult, Scale } from './experiment.js';

export interface ReliabilityFile {
  readonly schema: 1;
  readonly scale: Scale;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly machine: Machine;
  readonly experiments: readonly (ExperimentResult & { readonly name: string; readonly title: string; readonly seconds: number })[];
}

const cell = (text: string) => text.replaceAll('|', '\\|').replaceAll('\n', ' ');

/** The reliability section of BENCHMARKS.md. */
export function renderReliability(file: ReliabilityFile): string {
  const lines = [
    `Reliability suite, ${file.scale} scale, ${file.startedAt} (${file.machine.nproc} cores, ${file.machine.cpuModel}, Node ${file.machine.node}, load average ${file.machine.loadAverage.start.toFixed(2)} → ${file.machine.loadAverage.end.toFixed(2)}).`,
  ];
  for (const experiment of file.experiments) {
    lines.push('', `#### ${experiment.title} (\`${experiment.name}\`): ${experiment.passed ? 'passed' : '**FAILED**'}, ${experiment.seconds.toFixed(0)} s`, '');
    lines.push('| figure | value |', '| --- | --- |');
    for (const figure of experiment.figures) lines.push(`| ${cell(figure.label)} | ${cell(figure.value)} |`);
    for (const problem of experiment.problems) lines.push(`| ✗ problem | ${cell(problem)} |`);
  }
  return lines.join('\n');
}
