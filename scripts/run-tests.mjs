// Runs every compiled *.test.js under the workspaces with node's test runner.
// Node 20's --test does not expand globs, so the files are listed here.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const roots = ['packages/keycard/dist-test/test', 'apps/demo/dist/test', 'bench/dist/test'];
const only = process.argv.slice(2);

function collect(dir, out) {
  let names;
  try {
    names = readdirSync(dir);
  } catch {
    return out;
  }
  for (const name of names) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) collect(path, out);
    else if (name.endsWith('.test.js')) out.push(path);
  }
  return out;
}

let files = roots.flatMap((root) => collect(root, [])).sort();
if (only.length > 0) files = files.filter((file) => only.some((part) => file.includes(part)));
if (files.length === 0) {
  console.error('no test files found: run `npm run build` first');
  process.exit(1);
}

// The reliability experiments (bench/test/reliability-*) check bounds in
// milliseconds (503 within the store timeout, back within 2 s of Redis
// returning) with real processes: they run after the rest, one at a time,
// so that they do not share the 2 cores with another suite.
const isExperiment = (file) => /reliability-[^/]*\.test\.js$/.test(file);
const passes = [
  { files: files.filter((file) => !isExperiment(file)), concurrency: process.env.TEST_CONCURRENCY ?? 2 },
  { files: files.filter(isExperiment), concurrency: 1 },
];
let status = 0;
for (const pass of passes) {
  if (pass.files.length === 0) continue;
  const result = spawnSync(
    process.execPath,
    ['--test', '--test-force-exit', '--enable-source-maps', `--test-concurrency=${pass.concurrency}`, ...pass.files],
    { stdio: 'inherit' },
  );
  if ((result.status ?? 1) !== 0) status = result.status ?? 1;
}
process.exit(status);
