/**
 * The layering rules of packages/keycard/src, checked on its import graph as
 * dpdm reads it from the TypeScript sources (type-only imports included: a
 * loop through types is still a loop for a reader):
 * - no import cycle anywhere;
 * - core/ imports only core/ and node: builtins (no framework, no store, no
 *   adapter: everything else depends on the core, never the reverse).
 * `npm run check:imports -w keycard` prints the cycles by hand.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, it } from 'node:test';

const run = promisify(execFile);
const packageDir = fileURLToPath(new URL('../../', import.meta.url));
const dpdm = join(resolve(packageDir, '../..'), 'node_modules', '.bin', 'dpdm');

interface Dependency {
  readonly request: string;
  /** The resolved file, relative to the analysed folder; a `node:` builtin as written; null when unresolved. */
  readonly id: string | null;
}

interface ImportGraph {
  readonly tree: Record<string, readonly Dependency[] | null>;
  readonly circulars: readonly (readonly string[])[];
}

/** The import graph of `dir/src/**\/*.ts`, paths relative to `dir`. */
async function importGraph(dir: string): Promise<ImportGraph> {
  const out = await mkdtemp(join(tmpdir(), 'keycard-imports-'));
  try {
    const file = join(out, 'graph.json');
    await run(dpdm, ['--no-tree', '--no-warning', '--no-progress', '--no-circular', '--output', file, 'src/**/*.ts'], { cwd: dir });
    return JSON.parse(await readFile(file, 'utf8')) as ImportGraph;
  } finally {
    await rm(out, { recursive: true, force: true });
  }
}

/** Every import from `src/core/` that leads outside it, as "issuer -> request". */
function upwardFromCore(graph: ImportGraph): string[] {
  const found: string[] = [];
  for (const [issuer, dependencies] of Object.entries(graph.tree)) {
    if (!issuer.startsWith('src/core/') || dependencies === null) continue;
    for (const { request, id } of dependencies) {
      if (id !== null && (id.startsWith('src/core/') || id.startsWith('node:'))) continue;
      found.push(`${issuer} -> ${request}`);
    }
  }
  return found.sort();
}

/** Each cycle as "a -> b -> c", starting from its first file in sort order (dpdm may start anywhere). */
function cycles(graph: ImportGraph): string[] {
  return graph.circulars
    .map((cycle) => {
      const start = cycle.indexOf([...cycle].sort()[0]!);
      return [...cycle.slice(start), ...cycle.slice(0, start)].join(' -> ');
    })
    .sort();
}

describe('the import graph of packages/keycard/src', () => {
  it('has no import cycle, type-only imports included', async () => {
    const graph = await importGraph(packageDir);
    assert.ok(Object.keys(graph.tree).length > 50, 'dpdm read too few files');
    assert.deepEqual(cycles(graph), []);
  });

  it('core/ imports only core/ and node: builtins', async () => {
    const graph = await importGraph(packageDir);
    assert.ok(Object.keys(graph.tree).some((file) => file.startsWith('src/core/')), 'no core/ files read');
    assert.deepEqual(upwardFromCore(graph), []);
  });

  it('the checks above see a cycle, a type-only cycle, an upward import and a package import in core/ (so they can fail)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'keycard-imports-fixture-'));
    try {
      const files: Record<string, string> = {
        'src/core/a.ts': "import { b } from './b.js';\nexport const a = (): number => b() + 1;\n",
        'src/core/b.ts': "import { a } from './a.js';\nexport const b = (): number => (typeof a === 'function' ? 1 : 0);\n",
        'src/core/c.ts': "import type { D } from './d.js';\nexport interface C { readonly d?: D }\n",
        'src/core/d.ts': "import type { C } from './c.js';\nexport interface D { readonly c?: C }\n",
        'src/core/up.ts': "import { store } from '../memory/store.js';\nimport { createHash } from 'node:crypto';\nexport const up = [store, createHash];\n",
        'src/core/framework.ts': "import { Injectable } from '@nestjs/common';\nexport const framework = Injectable;\n",
        'src/memory/store.ts': 'export const store = 1;\n',
      };
      for (const [path, text] of Object.entries(files)) {
        await mkdir(join(dir, path, '..'), { recursive: true });
        await writeFile(join(dir, path), text);
      }
      await writeFile(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { module: 'nodenext', moduleResolution: 'nodenext' } }));
      const graph = await importGraph(dir);
      assert.deepEqual(cycles(graph), ['src/core/a.ts -> src/core/b.ts', 'src/core/c.ts -> src/core/d.ts']);
      assert.deepEqual(upwardFromCore(graph), ['src/core/framework.ts -> @nestjs/common', 'src/core/up.ts -> ../memory/store.js']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
