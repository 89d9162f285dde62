/**
 * The layering rules of packages/keycard/src, checked on its import graph as
 * dpdm reads it from the TypeScript sources (type-only imports included: a
 * loop through types is still a loop for a reader):
 * - no import cycle anywhere;
 * - core/ imports only core/ and node: builtins (no framework, no store, no
 *   adapter: everything else depends on the core, never the reverse);
 * - every package the sources import is declared, as a dependency or an
 *   optional peer dependency (an entry point added with a new integration
 *   cannot forget it), and `keycard` itself loads no peer at run time.
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

/**
 * The import graph of `dir/src/**\/*.ts`, paths relative to `dir`; with
 * `runtime`, without the imports that compile away (types only).
 */
async function importGraph(dir: string, { runtime = false } = {}): Promise<ImportGraph> {
  const out = await mkdtemp(join(tmpdir(), 'keycard-imports-'));
  try {
    const file = join(out, 'graph.json');
    const args = ['--no-tree', '--no-warning', '--no-progress', '--no-circular', ...(runtime ? ['--transform'] : []), '--output', file];
    await run(dpdm, [...args, 'src/**/*.ts'], { cwd: dir });
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

/** The package a bare specifier names: `@scope/name` or `name`. */
function packageOf(request: string): string {
  const [first = '', second = ''] = request.split('/');
  return first.startsWith('@') ? `${first}/${second}` : first;
}

/** The packages (not node: builtins, not relative files) that `files` import, or all files when omitted. */
function importedPackages(graph: ImportGraph, files?: ReadonlySet<string>): Map<string, string[]> {
  const found = new Map<string, string[]>();
  for (const [issuer, dependencies] of Object.entries(graph.tree)) {
    if (dependencies === null || (files && !files.has(issuer))) continue;
    for (const { request } of dependencies) {
      if (request.startsWith('.') || request.startsWith('node:')) continue;
      const name = packageOf(request);
      found.set(name, [...(found.get(name) ?? []), issuer]);
    }
  }
  return found;
}

/** The source files `entry` loads, directly or not. */
function reachable(graph: ImportGraph, entry: string): Set<string> {
  const seen = new Set<string>();
  const next = [entry];
  for (let file = next.pop(); file !== undefined; file = next.pop()) {
    if (seen.has(file)) continue;
    seen.add(file);
    for (const { id } of graph.tree[file] ?? []) if (id !== null && id.startsWith('src/')) next.push(id);
  }
  return seen;
}

interface Manifest {
  readonly dependencies?: Record<string, string>;
  readonly peerDependencies?: Record<string, string>;
  readonly peerDependenciesMeta?: Record<string, { readonly optional?: boolean }>;
}

/** Packages imported by the sources and declared neither as dependencies nor as peers, with their importers. */
function undeclaredImports(graph: ImportGraph, manifest: Manifest): string[] {
  const declared = new Set([...Object.keys(manifest.dependencies ?? {}), ...Object.keys(manifest.peerDependencies ?? {})]);
  return [...importedPackages(graph)].filter(([name]) => !declared.has(name)).map(([name, files]) => `${name} (imported by ${files.join(', ')})`);
}

/** Peer dependencies that `entry` loads, directly or not, with their importers. */
function peersLoadedBy(graph: ImportGraph, manifest: Manifest, entry: string): string[] {
  assert.ok(graph.tree[entry], `${entry} was not read`);
  return [...importedPackages(graph, reachable(graph, entry))]
    .filter(([name]) => Object.hasOwn(manifest.peerDependencies ?? {}, name))
    .map(([name, files]) => `${name} (imported by ${files.join(', ')})`);
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
  let sources: Promise<ImportGraph> | undefined;
  /** Read once for the tests that need the graph with types. */
  const sourceGraph = (): Promise<ImportGraph> => (sources ??= importGraph(packageDir));

  it('has no import cycle, type-only imports included', async () => {
    const graph = await sourceGraph();
    assert.ok(Object.keys(graph.tree).length > 50, 'dpdm read too few files');
    assert.deepEqual(cycles(graph), []);
  });

  it('core/ imports only core/ and node: builtins', async () => {
    const graph = await sourceGraph();
    assert.ok(Object.keys(graph.tree).some((file) => file.startsWith('src/core/')), 'no core/ files read');
    assert.deepEqual(upwardFromCore(graph), []);
  });

  it('imports only packages it declares: dependencies, or optional peer dependencies', async () => {
    const manifest = JSON.parse(await readFile(join(packageDir, 'package.json'), 'utf8')) as Manifest;
    assert.deepEqual(undeclaredImports(await sourceGraph(), manifest), []);
    const peers = Object.keys(manifest.peerDependencies ?? {});
    const required = peers.filter((name) => manifest.peerDependenciesMeta?.[name]?.optional !== true);
    assert.deepEqual(required, [], 'every peer dependency is optional: install only what you import');
  });

  it('keycard, the core entry point, loads no peer dependency at run time', async () => {
    const manifest = JSON.parse(await readFile(join(packageDir, 'package.json'), 'utf8')) as Manifest;
    assert.deepEqual(peersLoadedBy(await importGraph(packageDir, { runtime: true }), manifest, 'src/index.ts'), []);
  });

  it('the checks above see a cycle, a type-only cycle, an upward import, a package in core/, an undeclared package and a peer loaded by the entry (so they can fail)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'keycard-imports-fixture-'));
    try {
      const files: Record<string, string> = {
        'src/core/a.ts': "import { b } from './b.js';\nexport const a = (): number => b() + 1;\n",
        'src/core/b.ts': "import { a } from './a.js';\nexport const b = (): number => (typeof a === 'function' ? 1 : 0);\n",
        'src/core/c.ts': "import type { D } from './d.js';\nexport interface C { readonly d?: D }\n",
        'src/core/d.ts': "import type { C } from './c.js';\nexport interface D { readonly c?: C }\n",
        'src/core/up.ts': "import { store } from '../memory/store.js';\nimport { createHash } from 'node:crypto';\nexport const up = [store, createHash];\n",
        'src/core/framework.ts': "import { Injectable } from '@nestjs/common';\nexport const framework = Injectable;\n",
        'src/memory/store.ts': "import type { Redis } from 'ioredis';\nexport const store = 1;\nexport type R = Redis;\n",
        'src/index.ts': "export { a } from './core/a.js';\nexport { up } from './core/up.js';\nexport type { C } from './core/c.js';\n",
        'src/extra/index.ts': "import left from 'left-pad';\nexport const pad = left;\n",
      };
      for (const [path, text] of Object.entries(files)) {
        await mkdir(join(dir, path, '..'), { recursive: true });
        await writeFile(join(dir, path), text);
      }
      await writeFile(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { module: 'nodenext', moduleResolution: 'nodenext' } }));
      const graph = await importGraph(dir);
      assert.deepEqual(cycles(graph), ['src/core/a.ts -> src/core/b.ts', 'src/core/c.ts -> src/core/d.ts']);
      assert.deepEqual(upwardFromCore(graph), ['src/core/framework.ts -> @nestjs/common', 'src/core/up.ts -> ../memory/store.js']);
      const manifest: Manifest = { peerDependencies: { '@nestjs/common': '^12', ioredis: '^6' } };
      assert.deepEqual(undeclaredImports(graph, manifest), ['left-pad (imported by src/extra/index.ts)']);
      // @nestjs/common is loaded by nothing that src/index.ts reaches; ioredis only as a type, which the runtime graph drops.
      const runtime = await importGraph(dir, { runtime: true });
      assert.deepEqual(peersLoadedBy(runtime, manifest, 'src/index.ts'), []);
      await writeFile(join(dir, 'src/core/b.ts'), "import { Injectable } from '@nestjs/common';\nexport const b = (): number => (Injectable ? 1 : 0);\n");
      assert.deepEqual(peersLoadedBy(await importGraph(dir, { runtime: true }), manifest, 'src/index.ts'), ['@nestjs/common (imported by src/core/b.ts)']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
