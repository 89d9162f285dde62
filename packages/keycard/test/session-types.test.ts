import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

/**
 * The README's `req.session` augmentation, compiled by tsc in a project of
 * its own, without @types/express-session, against the built `keycard/passport`.
 */
const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const PACKAGE = `${ROOT}packages/keycard/`;
const TSC = `${ROOT}node_modules/typescript/bin/tsc`;

function readmeBlock(name: string): string {
  const readme = readFileSync(`${ROOT}README.md`, 'utf8');
  const at = readme.indexOf(`<!-- example: ${name} -->`);
  assert.notEqual(at, -1, `README has no example ${name}`);
  const match = /```ts\n([\s\S]*?)```/.exec(readme.slice(at));
  assert.ok(match);
  return match[1] as string;
}

const USAGE = `import type { Request } from 'express';

export function handler(req: Request): string {
  req.session['myCustomValue'] = 'someData'; // the seeds' tutorial line
  req.session.regenerate((error) => void error);
  return req.session.id;
}
`;

/** Compiles `files` with tsc (no emit); returns its exit status and output. */
function compile(files: Record<string, string>): { status: number | null; output: string } {
  // Inside the package, so that `keycard/passport` resolves to the built package by its own name.
  const dir = mkdtempSync(join(PACKAGE, 'dist-test', 'types-'));
  try {
    for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: { strict: true, noEmit: true, module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2023', skipLibCheck: true, types: ['node'] },
        include: ['*.ts'],
      }),
    );
    const result = spawnSync(process.execPath, [TSC, '-p', dir], { encoding: 'utf8' });
    return { status: result.status, output: `${result.stdout}${result.stderr}` };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('README: req.session types without @types/express-session', () => {
  it('without the augmentation, req.session is TS2339 (what the README says happens)', () => {
    const { status, output } = compile({ 'usage.ts': USAGE });
    assert.notEqual(status, 0);
    assert.match(output, /TS2339: Property 'session' does not exist/);
  });

  it('with the README file, the tutorial code type-checks', () => {
    const { status, output } = compile({ 'usage.ts': USAGE, 'keycard-session.d.ts': readmeBlock('session-types') });
    assert.equal(status, 0, output);
  });
});
