/**
 * Prints the results section of BENCHMARKS.md from a results file:
 * `node bench/dist/src/render.js [bench/results/<run>.json]` (default: the newest).
 */
import { readFileSync } from 'node:fs';
import { newestResults } from './report/newest.js';
import { renderResults, renderVersions } from './report/markdown.js';
import type { ResultsFile } from './report/results.js';

const file = process.argv[2] ?? newestResults();
const results = JSON.parse(readFileSync(file, 'utf8')) as ResultsFile;
console.log(renderResults(results));
console.log('');
console.log(renderVersions(results));
