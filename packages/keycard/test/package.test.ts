/**
 * The package as a user gets it: `npm pack` of packages/keycard, checked for
 * what the tarball holds (README, LICENSE, source maps that resolve, no
 * dist/src level), linted by publint and @arethetypeswrong/cli, then
 * installed into fresh Nest apps (ESM, and CommonJS through Node's
 * require(esm)) that compile the README's first example as written and
 * serve it over HTTP.
 *
 * The tarball is packed from the dist/ that `npm run build` made
 * (--ignore-scripts: rebuilding here would swap dist/ under the suites that
 * run meanwhile). The app installs use npm's cache (--prefer-offline).
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { publint } from 'publint';
import { formatMessage } from 'publint/utils';
import { within } from './support/poll.js';
import { freePort } from './support/redis-server.js';
import { REDIS_URL, redisSkip } from './support/services.js';

const run = promisify(execFile);
const packageDir = fileURLToPath(new URL('../../', import.meta.url));
const repoRoot = resolve(packageDir, '../..');
const bin = (name: string): string => join(repoRoot, 'node_modules', '.bin', name);

interface PackResult {
  readonly filename: string;
  readonly files: readonly { readonly path: string }[];
}

interface PackageJson {
  readonly exports: Record<string, Record<string, string>>;
}

/** The first fenced block of `lang` in a markdown text. */
function firstBlock(markdown: string, lang: string): string {
  const match = new RegExp('```' + lang + '\\n([\\s\\S]*?)```').exec(markdown);
  assert.ok(match?.[1], `no \`\`\`${lang} block`);
  return match[1];
}

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries.filter((entry) => entry.isFile()).map((entry) => join(entry.parentPath, entry.name));
}

let work: string;
let tarball: string;
let packed: readonly string[];
/** The unpacked tarball: what `node_modules/keycard` holds after an install. */
let unpacked: string;

before(async () => {
  assert.ok(existsSync(join(packageDir, 'dist', 'index.js')), 'packages/keycard/dist is missing: run `npm run build` first');
  work = await mkdtemp(join(tmpdir(), 'keycard-pack-'));
  const { stdout } = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], { cwd: packageDir });
  const [result] = JSON.parse(stdout) as PackResult[];
  assert.ok(result);
  tarball = join(work, result.filename);
  packed = result.files.map((file) => file.path).sort();
  await mkdir(join(work, 'unpacked'));
  await run('tar', ['-xzf', tarball, '-C', join(work, 'unpacked')]);
  unpacked = join(work, 'unpacked', 'package');
});

after(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe('npm pack of packages/keycard', () => {
  it('contents — README, LICENSE, package.json, dist/ without a src/ level, the sources; no tests', async () => {
    for (const name of ['README.md', 'LICENSE', 'package.json']) assert.ok(packed.includes(name), `${name} is not packed`);
    const stray = packed.filter((path) => !['README.md', 'LICENSE', 'package.json'].includes(path) && !/^(dist|src)\//.test(path));
    assert.deepEqual(stray, []);
    assert.deepEqual(packed.filter((path) => path.startsWith('dist/src/') || path.startsWith('dist/test/')), []);
    assert.deepEqual(packed.filter((path) => /(^|\/)test\/|\.test\./.test(path)), []);
    assert.ok(packed.includes('dist/index.js') && packed.includes('src/index.ts'));
  });

  it('LICENSE — MIT, as package.json says, and the same text as the repository root', async () => {
    const license = await readFile(join(unpacked, 'LICENSE'), 'utf8');
    assert.match(license, /^MIT License\n/);
    assert.equal(license, await readFile(join(repoRoot, 'LICENSE'), 'utf8'));
    const pkg = JSON.parse(await readFile(join(unpacked, 'package.json'), 'utf8')) as { license: string };
    assert.equal(pkg.license, 'MIT');
  });

  it('README — the package’s own; its relative links resolve inside the package; its example is the repository README’s', async () => {
    const readme = await readFile(join(unpacked, 'README.md'), 'utf8');
    assert.match(readme, /^# keycard\n/);
    assert.match(readme, /^## Install$/m);
    assert.match(readme, /npm install keycard /);
    const links = [...readme.matchAll(/\]\(([^)\s]+)\)/g)].map((match) => match[1]!);
    const local = links.filter((link) => !/^[a-z]+:|^#/.test(link));
    assert.ok(local.length > 0);
    for (const link of local) assert.ok(existsSync(join(unpacked, link.split('#')[0]!)), `README links to ${link}, which is not packed`);
    const rootReadme = await readFile(join(repoRoot, 'README.md'), 'utf8');
    assert.equal(firstBlock(readme, 'ts'), firstBlock(rootReadme, 'ts'), 'the first examples of the two READMEs differ');
  });

  it('source maps — every map names sources that are in the package, and every .js points to its map', async () => {
    const files = await filesUnder(join(unpacked, 'dist'));
    const maps = files.filter((file) => file.endsWith('.map'));
    assert.ok(maps.length > 50, `only ${maps.length} maps`);
    const missing: string[] = [];
    for (const map of maps) {
      const { sources, sourceRoot = '' } = JSON.parse(await readFile(map, 'utf8')) as { sources: string[]; sourceRoot?: string };
      assert.ok(sources.length > 0, `${map} names no source`);
      for (const source of sources) {
        const path = resolve(dirname(map), sourceRoot, source);
        if (!existsSync(path)) missing.push(`${relative(unpacked, map)} -> ${source}`);
      }
    }
    assert.deepEqual(missing, []);
    for (const js of files.filter((file) => file.endsWith('.js'))) {
      const last = (await readFile(js, 'utf8')).trimEnd().split('\n').at(-1) ?? '';
      const url = /^\/\/# sourceMappingURL=(.+)$/.exec(last)?.[1];
      assert.ok(url && existsSync(join(dirname(js), url)), `${relative(unpacked, js)} has no map`);
    }
  });

  it('source maps — a stack trace from the installed package names a .ts file that exists', async () => {
    const script = `import(${JSON.stringify(join(unpacked, 'dist', 'index.js'))}).then(({ SessionManager }) => {
  try { new SessionManager({ secrets: ['too short'] }); } catch (error) { console.log(error.stack); }
});`;
    const { stdout } = await run(process.execPath, ['--enable-source-maps', '-e', script]);
    const frames = [...stdout.matchAll(/\((\/[^():]+\.ts):\d+:\d+\)/g)].map((match) => match[1]!);
    assert.ok(frames.length > 0, `no .ts frame in:\n${stdout}`);
    for (const frame of frames) {
      assert.ok(frame.startsWith(unpacked), `${frame} is outside the package`);
      assert.ok(existsSync(frame), `${frame} does not exist`);
    }
  });

  it('exports — `types` first in every entry, and every target is in the package', async () => {
    const pkg = JSON.parse(await readFile(join(unpacked, 'package.json'), 'utf8')) as PackageJson;
    const entries = Object.entries(pkg.exports);
    assert.ok(entries.length >= 8);
    for (const [entry, conditions] of entries) {
      assert.equal(Object.keys(conditions)[0], 'types', `${entry}: types must come first`);
      for (const target of Object.values(conditions)) assert.ok(packed.includes(target.replace(/^\.\//, '')), `${entry}: ${target} is not packed`);
    }
  });

  it('publint — no error, warning or suggestion', async () => {
    const data = await readFile(tarball);
    const tarballBuffer = data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) as ArrayBuffer;
    const { messages, pkg } = await publint({ pack: { tarball: tarballBuffer }, level: 'suggestion' });
    assert.deepEqual(messages.map((message) => `${message.type}: ${formatMessage(message, pkg) ?? message.code}`), []);
  });

  it('@arethetypeswrong/cli — every entry point resolves with its types (profile esm-only, from .attw.json)', async () => {
    // The package is ESM-only like NestJS 12; CommonJS apps load it through require(esm) (see below).
    await assert.doesNotReject(run(bin('attw'), [tarball, '--format', 'ascii'], { cwd: packageDir }), 'attw found problems: run `npx attw --pack .` in packages/keycard');
  });
});

/** Cookies from Set-Cookie headers, sent back as a browser would (same host, no expiry handling needed here). */
class Jar {
  private readonly cookies = new Map<string, string>();
  take(response: Response): void {
    for (const line of response.headers.getSetCookie()) {
      const [pair = ''] = line.split(';');
      const eq = pair.indexOf('=');
      this.cookies.set(pair.slice(0, eq).trim(), pair.slice(eq + 1).trim());
    }
  }
  header(): string {
    return [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
  }
  names(): string[] {
    return [...this.cookies.keys()];
  }
}

interface Variant {
  readonly name: string;
  readonly type: 'module' | 'commonjs';
  readonly module: string;
}

const VARIANTS: readonly Variant[] = [
  { name: 'esm', type: 'module', module: 'nodenext' },
  { name: 'cjs', type: 'commonjs', module: 'nodenext' },
  // The module setting of Nest CLI apps before Nest 12.
  { name: 'cjs-module-commonjs', type: 'commonjs', module: 'commonjs' },
];

/** The version of a dependency as the repository installed it, so that the app install hits npm's cache. */
async function installedVersion(name: string): Promise<string> {
  const pkg = JSON.parse(await readFile(join(repoRoot, 'node_modules', name, 'package.json'), 'utf8')) as { version: string };
  return pkg.version;
}

async function writeJson(path: string, value: unknown): Promise<void> {
  await writeFile(path, `${JSON.stringify(value, null, 2)}\n`);
}

/** Starts `node <main>` in `cwd`, answers once GET /csrf does; stops it by PID. */
async function startApp(cwd: string, main: string, env: Record<string, string>) {
  const port = await freePort();
  const child = spawn(process.execPath, [main], {
    cwd,
    env: { PATH: process.env['PATH'] ?? '', SESSION_SECRET: 'a-test-secret-of-at-least-32-characters!', PORT: String(port), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = once(child, 'exit');
  const base = `http://127.0.0.1:${port}`;
  try {
    await within(
      20_000,
      async () => {
        if (child.exitCode !== null) throw new Error(`the app exited with ${child.exitCode}:\n${output}`);
        return fetch(`${base}/csrf`).then(
          () => true,
          () => false,
        );
      },
      'the example app listens',
      50,
    );
  } catch (error) {
    child.kill();
    throw error;
  }
  return {
    base,
    output: () => output,
    async stop() {
      if (child.exitCode === null) child.kill();
      await exited;
    },
  };
}

/** The README's walk-through, as fetch calls: 401, a token, 403 without it, sign-in with it, then /me. */
async function walkThrough(base: string): Promise<void> {
  const jar = new Jar();
  const anonymous = await fetch(`${base}/me`);
  assert.equal(anonymous.status, 401);
  assert.equal(((await anonymous.json()) as { code: string }).code, 'KEYCARD_UNAUTHENTICATED');

  const csrf = await fetch(`${base}/csrf`);
  assert.equal(csrf.status, 200);
  jar.take(csrf);
  const { token } = (await csrf.json()) as { token: string };
  assert.match(token, /^[\w-]{40,}$/);
  assert.deepEqual(jar.names(), ['csrf'], 'the pre-session csrf cookie');

  const json = { 'content-type': 'application/json', cookie: jar.header() };
  const forged = await fetch(`${base}/login`, { method: 'POST', headers: json, body: JSON.stringify({ user: 'ann' }) });
  assert.equal(forged.status, 403);
  assert.equal(((await forged.json()) as { code: string }).code, 'KEYCARD_CSRF_MISSING');

  const login = await fetch(`${base}/login`, { method: 'POST', headers: { ...json, 'x-csrf-token': token }, body: JSON.stringify({ user: 'ann' }) });
  assert.equal(login.status, 201);
  assert.deepEqual(await login.json(), { ok: true });
  jar.take(login);
  assert.ok(jar.names().includes('sid'), 'a session cookie after sign-in');

  const me = await fetch(`${base}/me`, { headers: { cookie: jar.header() } });
  assert.equal(me.status, 200);
  assert.deepEqual(await me.json(), { id: 'ann', roles: ['user'], authVersion: 1 });
}

describe('the README example in fresh Nest apps that install the tarball', { timeout: 300_000 }, () => {
  let apps: string;
  let example: string;
  let redisExample: string;

  before(async () => {
    apps = join(work, 'apps');
    await mkdir(apps);
    const versions = Object.fromEntries(
      await Promise.all(
        ['@nestjs/common', '@nestjs/core', '@nestjs/platform-express', 'reflect-metadata', 'rxjs', 'ioredis', 'typescript', '@types/node'].map(
          async (name) => [name, await installedVersion(name)] as const,
        ),
      ),
    );
    const { typescript, '@types/node': typesNode, ...dependencies } = versions;
    // One install shared by the apps below (node and tsc look up node_modules from each app's folder).
    await writeJson(join(apps, 'package.json'), {
      name: 'keycard-example-apps',
      private: true,
      dependencies: { keycard: `file:${tarball}`, ...dependencies },
      devDependencies: { typescript, '@types/node': typesNode },
    });
    await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: apps, timeout: 240_000 });
    assert.ok(existsSync(join(apps, 'node_modules', 'keycard', 'README.md')), 'keycard was not installed from the tarball');

    const rootReadme = await readFile(join(repoRoot, 'README.md'), 'utf8');
    example = firstBlock(await readFile(join(unpacked, 'README.md'), 'utf8'), 'ts');
    redisExample = firstBlock(rootReadme.slice(rootReadme.indexOf('### Redis')), 'ts');
  });

  for (const variant of VARIANTS) {
    it(`${variant.name} — compiles the example as written and serves it over HTTP`, async () => {
      const dir = join(apps, variant.name);
      await mkdir(join(dir, 'src'), { recursive: true });
      await writeJson(join(dir, 'package.json'), { name: `example-${variant.name}`, private: true, type: variant.type });
      await writeJson(join(dir, 'tsconfig.json'), {
        compilerOptions: {
          target: 'ES2023',
          module: variant.module,
          ...(variant.module === 'nodenext' ? { moduleResolution: 'nodenext' } : {}),
          outDir: 'dist',
          rootDir: 'src',
          strict: true,
          experimentalDecorators: true,
          emitDecoratorMetadata: true,
          skipLibCheck: true,
          types: ['node'],
        },
        include: ['src'],
      });
      await writeFile(join(dir, 'src', 'main.ts'), example);
      await writeFile(join(dir, 'src', 'sessions.ts'), redisExample);
      await run(process.execPath, [join(apps, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', dir]).catch((error: { stdout?: string }) => {
        assert.fail(`tsc failed:\n${error.stdout ?? String(error)}`);
      });
      const compiled = await readFile(join(dir, 'dist', 'main.js'), 'utf8');
      if (variant.type === 'commonjs') assert.match(compiled, /require\("keycard\/nest"\)/, 'a CommonJS build requires keycard');
      else assert.match(compiled, /from 'keycard\/nest'/);

      const app = await startApp(dir, 'dist/main.js', {});
      try {
        await walkThrough(app.base);
        assert.doesNotMatch(app.output(), /Warning|Error/, app.output());
      } finally {
        await app.stop();
      }
    });
  }

  it('the Redis example — its connected client reaches SessionModule.forRootAsync, and sessions land under its prefix', async (t) => {
    const skip = await redisSkip();
    if (skip) return t.skip(skip);
    const dir = join(apps, 'esm-redis');
    await mkdir(join(dir, 'src'), { recursive: true });
    await writeJson(join(dir, 'package.json'), { name: 'example-esm-redis', private: true, type: 'module' });
    await writeJson(join(dir, 'tsconfig.json'), JSON.parse(await readFile(join(apps, 'esm', 'tsconfig.json'), 'utf8')));
    const forRoot = 'SessionModule.forRoot({ secrets: [process.env.SESSION_SECRET!] })';
    assert.ok(example.includes(forRoot));
    await writeFile(join(dir, 'src', 'main.ts'), `import { sessions } from './sessions.js';\n${example.replace(forRoot, 'sessions')}`);
    await writeFile(join(dir, 'src', 'sessions.ts'), redisExample);
    await run(process.execPath, [join(apps, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', dir]).catch((error: { stdout?: string }) => {
      assert.fail(`tsc failed:\n${error.stdout ?? String(error)}`);
    });

    const redis = new Redis(REDIS_URL);
    const app = await startApp(dir, 'dist/main.js', { REDIS_URL });
    try {
      const before = await redis.keys('myapp:*');
      await walkThrough(app.base);
      const added = (await redis.keys('myapp:*')).filter((key) => !before.includes(key));
      assert.ok(added.length > 0, 'no session under the prefix myapp:');
      await redis.del(...added);
    } finally {
      await app.stop();
      redis.disconnect();
    }
  });
});
