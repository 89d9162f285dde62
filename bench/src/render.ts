/**
 * Prints the results section of BENCHMARKS.md from a results file:
 * `node bench/dist/src/render.js [bench/results/<run>.json]` (default: the newest).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderResults, renderVersions } from './report/markdown.js';
import type { ResultsFile } from './report/results.js';

function newestResults(): string {
  const dir = fileURLToPath(new URL('../../results', import.meta.url));
  const newest = readdirSync(dir)
    .filter((name) => name.endsWith('.json'))
    .sort()
    .at(-1);
  if (newest === undefined) throw new Error(`no results in ${dir}: run \`npm run bench\` first`);
  return join(dir, newest);
}

const file = process.argv[2] ?? newestResults();
const results = JSON.parse(readFileSync(file, 'utf8')) as ResultsFile;
console.log(renderResults(results));
console.log('');
console.log(renderVersions(results));
