import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { EXAMPLES, README, exampleText } from './support/readme.js';

/**
 * Every ```ts block of the README is compiled, so none can drift from the
 * API: the first (the 20-line example) and the Redis example are compiled and
 * run by package.test in fresh apps that install the tarball; the block of
 * `<!-- example: session-types -->` by session-types.test in a project of its
 * own; every other block follows an `<!-- example: name -->` marker and is
 * test/readme/name.example.ts — whole, or the part between `// #region readme`
 * and `// #endregion readme` — with the import paths a user writes. The test
 * build compiles those files, so a README block that stops compiling fails
 * `npm test` before this file runs.
 */
const COMPILED_ELSEWHERE = new Set(['session-types']);

interface Block {
  readonly line: number;
  readonly marker: string | null;
  readonly code: string;
}

/** The ```ts blocks of a markdown text, dedented to their fence, with the example marker right above each. */
export function tsBlocks(markdown: string): Block[] {
  const lines = markdown.split('\n');
  const blocks: Block[] = [];
  for (let at = 0; at < lines.length; at++) {
    const fence = /^(\s*)```ts\s*$/.exec(lines[at] as string);
    if (!fence) continue;
    const indent = fence[1] as string;
    let end = at + 1;
    while (end < lines.length && lines[end] !== `${indent}\`\`\``) end++;
    const code = lines.slice(at + 1, end).map((line) => line.slice(indent.length)).join('\n') + '\n';
    const marker = /^\s*<!-- example: (\S+) -->\s*$/.exec(lines[at - 1] ?? '');
    blocks.push({ line: at + 1, marker: marker ? (marker[1] as string) : null, code });
    at = end;
  }
  return blocks;
}

/** Every block the README shows that no test compiles, or that differs from the file that is compiled. */
export function uncheckedBlocks(markdown: string, readExample: (name: string) => string | null): string[] {
  const blocks = tsBlocks(markdown);
  const redisAt = markdown.split('\n').findIndex((line) => line === '### Redis');
  const redisBlock = blocks.find((block) => block.line > redisAt);
  const problems: string[] = [];
  for (const block of blocks) {
    if (block === blocks[0] || block === redisBlock) continue; // package.test's
    if (block.marker === null) {
      problems.push(`line ${block.line}: a ts block without an <!-- example: name --> marker`);
      continue;
    }
    if (COMPILED_ELSEWHERE.has(block.marker)) continue;
    const source = readExample(block.marker);
    if (source === null) problems.push(`line ${block.line}: no test/readme/${block.marker}.example.ts`);
    else if (exampleText(source) !== block.code) problems.push(`line ${block.line}: differs from test/readme/${block.marker}.example.ts`);
  }
  return problems;
}

function readExample(name: string): string | null {
  const path = `${EXAMPLES}${name}.example.ts`;
  return existsSync(path) ? readFileSync(path, 'utf8') : null;
}

describe('README ts blocks', () => {
  it('every block is a compiled example, shown exactly', () => {
    assert.deepEqual(uncheckedBlocks(README, readExample), []);
  });

  it('the check sees an unmarked block, a missing file and a block that drifted', () => {
    const markdown = [
      '```ts', 'first();', '```',
      '### Redis', '```ts', 'redis();', '```',
      '```ts', 'unmarked();', '```',
      '<!-- example: gone -->', '```ts', 'gone();', '```',
      '  <!-- example: shown -->', '  ```ts', '  drifted();', '  ```',
      '<!-- example: shown -->', '```ts', "import { x } from 'keycard/nest';", 'shown();', '```',
    ].join('\n');
    const files: Record<string, string> = {
      shown: "const hidden = 1;\n// #region readme\nimport { x } from '../../src/nest/index.js';\nshown();\n// #endregion readme\n",
    };
    assert.deepEqual(uncheckedBlocks(markdown, (name) => files[name] ?? null), [
      'line 8: a ts block without an <!-- example: name --> marker',
      'line 12: no test/readme/gone.example.ts',
      'line 16: differs from test/readme/shown.example.ts',
    ]);
  });
});
