/**
 * Draws the throughput chart of a results file as SVG next to it:
 * `node bench/dist/src/chart.js [bench/results/<run>.json]` (default: the newest)
 * writes bench/results/<run>.svg, which BENCHMARKS.md shows.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { newestResults } from './report/newest.js';
import { renderChart } from './report/chart.js';
import type { ResultsFile } from './report/results.js';

const file = process.argv[2] ?? newestResults();
const out = file.replace(/\.json$/, '.svg');
writeFileSync(out, renderChart(JSON.parse(readFileSync(file, 'utf8')) as ResultsFile));
console.log(`chart written to ${out}`);
