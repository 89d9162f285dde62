import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { describe, it } from 'node:test';

const run = promisify(execFile);
const built = (path: string) => new URL(`../src/${path}`, import.meta.url).href;
// The package directory, where node would find pg, postgres, PGlite and express-session if nothing refused them.
const packageDir = fileURLToPath(new URL('../../', import.meta.url));

/**
 * Imports `specifiers` in a fresh node whose resolver refuses `forbidden`, as if
 * those packages were not installed. Resolves to the exported names of each.
 */
async function loadWithout(forbidden: readonly string[], specifiers: readonly string[]): Promise<string[][]> {
  const dir = await mkdtemp(join(tmpdir(), 'keycard-peers-'));
  try {
    const hooks = join(dir, 'hooks.mjs');
    const setup = join(dir, 'setup.mjs');
    await writeFile(
      hooks,
      `const forbidden = ${JSON.stringify(forbidden)};
export async function resolve(specifier, context, next) {
  if (forbidden.some((name) => specifier === name || specifier.startsWith(name + '/'))) {
    throw new Error('not installed: ' + specifier);
  }
  return next(specifier, context);
}`,
    );
    await writeFile(setup, `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(hooks).href)});`);
    const script = `const out = [];
for (const m of ${JSON.stringify(specifiers)}) out.push(Object.keys(await import(m)));
console.log(JSON.stringify(out));`;
    const { stdout } = await run(process.execPath, ['--import', pathToFileURL(setup).href, '--input-type=module', '-e', script], {
      cwd: packageDir,
    });
    return JSON.parse(stdout) as string[][];
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe('optional peer dependencies', () => {
  it('import — keycard/postgres loads with only one of its drivers installed (pg, postgres or PGlite)', async () => {
    const drivers = { pg: ['pg', 'pg-pool'], postgres: ['postgres'], pglite: ['@electric-sql/pglite'] } as const;
    const adapters = { pg: 'pgPoolClient', postgres: 'postgresJsClient', pglite: 'pgliteClient' } as const;
    for (const only of Object.keys(drivers) as (keyof typeof drivers)[]) {
      const forbidden = Object.entries(drivers).flatMap(([name, packages]) => (name === only ? [] : packages));
      const [exports] = await loadWithout(forbidden, [built('postgres/index.js')]);
      assert.ok(exports?.includes('PostgresStore') && exports.includes(adapters[only]), `with only ${only}: ${String(exports)}`);
    }
  });

  it('import — keycard (with the connect-store adapter) loads without express-session or any connect store', async () => {
    const [core] = await loadWithout(['express-session', 'connect-redis', 'connect-pg-simple', 'pg', 'redis'], [built('index.js')]);
    assert.ok(core?.includes('ConnectStoreAdapter'));
  });

  it('import — the refusing resolver really refuses (so the checks above can fail)', async () => {
    const [pgExports] = await loadWithout([], ['pg']);
    assert.ok(pgExports?.includes('Pool'));
    await assert.rejects(loadWithout(['pg'], ['pg']), /not installed: pg/);
    const [postgresExports] = await loadWithout([], ['postgres']);
    assert.ok(postgresExports?.includes('default'));
    await assert.rejects(loadWithout(['postgres'], ['postgres']), /not installed: postgres/);
  });
});
