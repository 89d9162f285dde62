import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { postgresSkip } from './support/services.js';

/**
 * `postgres` (3.4.9) by default fetches the array types on every new
 * connection; when that connection is cut during the fetch and the
 * reconnection refused, it rejects a promise nobody holds (porsager/postgres
 * #1192, #1205, #1223), and on Node's default `--unhandled-rejections=throw`
 * the process ends. keycard binds and reads no arrays (lists go as JSON
 * text), so the README advises `fetch_types: false`. Each case runs the same
 * cut in a process of its own (support/pg-js-cut-main.ts), as an app would.
 */
const skip = await postgresSkip();
const MAIN = fileURLToPath(new URL('./support/pg-js-cut-main.js', import.meta.url));

async function run(fetchTypes: boolean): Promise<{ code: number | null; out: string; err: string }> {
  const child = spawn(process.execPath, ['--enable-source-maps', MAIN, String(fetchTypes), `kc_pgjs_cut_${String(fetchTypes)}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, out, err };
}

describe('postgres (porsager): a connection cut at its first statement, then refused', { skip }, () => {
  it("with fetch_types: false (the README's advice): every statement the store sends works, the reads during the cut fail, the store answers again, the process lives", async () => {
    const { code, out, err } = await run(false);
    assert.match(out, /read\(s\) failed during the cut/);
    assert.match(out, /recovered/, err);
    assert.equal(code, 0, err);
  });

  it("(the driver's default, fetch_types: true) the same cut ends the process with the driver's unhandled rejection — what the advice avoids", async () => {
    const { code, out, err } = await run(true);
    assert.match(out, /read\(s\) failed during the cut/, err);
    assert.doesNotMatch(out, /recovered/);
    assert.notEqual(code, 0);
    // If this fails, the driver fixed it: drop the README's caveat.
    assert.match(err, /ECONNRESET/);
    console.log(`postgres fetch_types: true, cut at the array-type fetch: the process exited ${String(code)}: ${/Error: [^\n]*/.exec(err)?.[0] ?? ''}`);
  });
});
