import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The repository's root, and the README the examples under test/readme are shown in. */
export const ROOT = fileURLToPath(new URL('../../../../../', import.meta.url));
export const README = readFileSync(`${ROOT}README.md`, 'utf8');
export const EXAMPLES = `${ROOT}packages/keycard/test/readme/`;

/** What the README must show for an example file: its readme region (or all of it) with keycard's package paths. */
export function exampleText(source: string): string {
  const region = /\/\/ #region readme\n([\s\S]*?)\/\/ #endregion readme\n/.exec(source);
  return (region ? (region[1] as string) : source)
    .replaceAll("'../../src/index.js'", "'keycard'")
    .replace(/'\.\.\/\.\.\/src\/([\w./-]+?)\/index\.js'/g, "'keycard/$1'");
}

/** test/readme/<name>.example.ts as the README shows it. */
export function exampleSource(name: string): string {
  return exampleText(readFileSync(`${EXAMPLES}${name}.example.ts`, 'utf8'));
}

/** The ```ts block right after `<!-- example: name -->` in the README. */
export function readmeBlock(name: string): string {
  const marker = `<!-- example: ${name} -->`;
  const at = README.indexOf(marker);
  assert.notEqual(at, -1, `README has no ${marker}`);
  const match = /```ts\n([\s\S]*?)```/.exec(README.slice(at));
  assert.ok(match, `README has no ts block after ${marker}`);
  return match[1] as string;
}
