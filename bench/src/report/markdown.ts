import { describeCommands } from '../harness/monitor-line.js';
import type { ResultsFile } from './results.js';
import { summarize, type Verdict } from './summary.js';

/** A Markdown table with padded columns, readable in a terminal too. */
export function table(header: readonly string[], rows: readonly (readonly string[])[], right: readonly boolean[] = []): string {
  const widths = header.map((cell, i) => Math.max(cell.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    `| ${cells.map((cell, i) => (right[i] ? cell.padStart(widths[i] ?? 0) : cell.padEnd(widths[i] ?? 0))).join(' | ')} |`;
  const rule = `|${widths.map((width, i) => (right[i] ? `${'-'.repeat(width + 1)}:` : '-'.repeat(width + 2))).join('|')}|`;
  return [line(header), rule, ...rows.map(line)].join('\n');
}

const fixed = (value: number | undefined, digits: number): string => (value === undefined ? '–' : value.toFixed(digits));
const signed = (value: number | undefined): string =>
  value === undefined ? '–' : `${value >= 0 ? '+' : ''}${value.toFixed(0)}`;
const percent = (value: number | undefined): string => (value === undefined ? '–' : `${(value * 100).toFixed(0)} %`);

function verdictFigure(verdict: Verdict): [figure: string, target: string] {
  if (verdict.kind === 'info') return [fixed(verdict.value, 2) + (verdict.value === undefined ? '' : '×'), 'reported'];
  if (verdict.kind === 'ratio') return [fixed(verdict.value, 2) + (verdict.value === undefined ? '' : '×'), `≥ ${verdict.atLeast}×`];
  return [verdict.value === undefined ? '–' : `${signed(verdict.value)} µs`, `≤ +${verdict.atMost} µs`];
}

function mark(verdict: Verdict): string {
  if (verdict.kind === 'info') return verdict.value === undefined ? 'not measured' : '';
  return verdict.met === undefined ? 'not measured' : verdict.met ? 'met' : 'MISSED';
}

/** The results section of BENCHMARKS.md, from a results file alone. */
export function renderResults(results: ResultsFile): string {
  const { variants, verdicts } = summarize(results);
  const { options, machine } = results;
  const out: string[] = [];
  out.push(
    `${results.startedAt} · ${machine.nproc} cores (${machine.cpuModel}) · Node ${machine.node} · ` +
      `load average ${machine.loadAverage.start.toFixed(2)} → ${machine.loadAverage.end.toFixed(2)} · ` +
      `${options.rounds} round(s) × ${options.duration} s (warm-up ${options.warmup} s), ${options.connections} connections, medians over rounds`,
  );
  out.push('');
  out.push(
    table(
      ['#', 'variant', 'req/s', 'min–max', 'p50 ms', 'p99 ms', 'CPU µs/req', 'vs ceiling', '+CPU µs/req', 'Redis cmds/read'],
      variants.map((v) => [
        v.label,
        v.name,
        v.rps.toFixed(0),
        `${v.rpsMin.toFixed(0)}–${v.rpsMax.toFixed(0)}`,
        v.p50Ms.toFixed(2),
        v.p99Ms.toFixed(2),
        v.cpuMicros.toFixed(0),
        v.ceiling ? 'ceiling' : percent(v.vsCeiling),
        v.ceiling ? '' : signed(v.extraCpuMicros),
        v.commands === undefined ? '' : fixed(v.commands.perRead, 2),
      ]),
      [false, false, true, true, true, true, true, true, true, true],
    ),
  );
  out.push('');
  out.push(
    table(
      ['target', 'issue', 'measured', 'needs', 'verdict'],
      verdicts.map((verdict) => [verdict.label, String(verdict.issue), ...verdictFigure(verdict), mark(verdict)]),
      [false, true, true, true, false],
    ),
  );
  const counted = Object.entries(results.commands);
  if (counted.length > 0) {
    out.push('');
    out.push(
      table(
        ['variant', 'Redis commands sent per authenticated read', 'which'],
        counted.map(([name, count]) => [name, fixed(count.perRead, 2), describeCommands(count)]),
        [false, true, false],
      ),
    );
    out.push('');
    out.push(
      `Counted with MONITOR over ${options.commandReads} sequential reads on the bench's private redis-server. ` +
        'Each sent command is a request to Redis; commands a Lua script runs inside Redis are shown in brackets and cost no round trip.',
    );
  }
  if (results.skipped.length > 0) {
    out.push('');
    out.push('Not run:');
    for (const { variant, reason } of results.skipped) out.push(`- ${variant}: ${reason}`);
  }
  if (results.failures.length > 0) {
    out.push('');
    out.push('Failures (their runs are left out of the medians):');
    for (const { variant, phase, message } of results.failures) {
      out.push(`- ${variant} (${phase === 'commands' ? 'command count' : `round ${phase}`}): ${message.split('\n')[0]}`);
    }
  }
  return out.join('\n');
}

export function renderVersions(results: Pick<ResultsFile, 'versions'>): string {
  return table(
    ['package', 'version'],
    Object.entries(results.versions).map(([name, version]) => [name, version]),
  );
}
