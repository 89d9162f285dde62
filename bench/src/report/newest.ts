import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The newest throughput results file under bench/results (the file names are start times). */
export function newestResults(): string {
  const dir = fileURLToPath(new URL('../../../results', import.meta.url));
  const newest = readdirSync(dir)
    .filter((name) => name.endsWith('.json'))
    .sort()
    .at(-1);
  if (newest === undefined) throw new Error(`no results in ${dir}: run \`npm run bench\` first`);
  return join(dir, newest);
}
