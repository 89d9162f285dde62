import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Where to look for each compared package, as Node resolves it: express and
 * fastify from the Nest adapter that loads them, the rest from bench/.
 */
const PACKAGES: readonly (readonly [name: string, from?: string])[] = [
  ['@nestjs/core'],
  ['@nestjs/common'],
  ['@nestjs/platform-express'],
  ['@nestjs/platform-fastify'],
  ['express', '@nestjs/platform-express'],
  ['fastify', '@nestjs/platform-fastify'],
  ['express-session'],
  ['connect-redis'],
  ['redis'],
  ['passport'],
  ['@fastify/cookie'],
  ['@fastify/session'],
  ['keycard'],
  ['ioredis'],
  ['pg'],
  ['@electric-sql/pglite'],
  ['autocannon'],
];

const benchDir = fileURLToPath(new URL('../../..', import.meta.url));

/** The directory of `name` as Node would find it from `fromDir` (walking up node_modules). */
function packageDir(name: string, fromDir: string): string | undefined {
  for (let dir = fromDir; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name);
    if (existsSync(join(candidate, 'package.json'))) return candidate;
    if (dirname(dir) === dir) return undefined;
  }
}

function versionAt(dir: string | undefined): string {
  if (dir === undefined) return 'not installed';
  return (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string }).version;
}

/** Versions of every compared package, read from node_modules at run time. */
export function packageVersions(): Record<string, string> {
  const versions: Record<string, string> = {};
  for (const [name, from] of PACKAGES) {
    const fromDir = from === undefined ? benchDir : (packageDir(from, benchDir) ?? benchDir);
    versions[name] = versionAt(packageDir(name, fromDir));
  }
  return versions;
}
