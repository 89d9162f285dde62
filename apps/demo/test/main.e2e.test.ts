import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { PASSWORD } from './support/accounts.js';
import { Client } from './support/http-client.js';

/**
 * The app as `npm start` runs it: a separate process configured only by
 * environment, on the embedded database, stopped with SIGTERM.
 */

const MAIN = resolve(dirname(fileURLToPath(import.meta.url)), '../src/main.js');
const START_DEADLINE_MS = 60_000;

interface Running {
  readonly child: ChildProcess;
  readonly url: string;
  readonly output: () => string;
}

/** Starts main.js and resolves with the URL it prints, or rejects with everything it printed. */
function start(env: Record<string, string>): Promise<Running> {
  const child = spawn(process.execPath, ['--enable-source-maps', MAIN], {
    env: { PATH: process.env['PATH'] ?? '', PORT: '0', HOST: '127.0.0.1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`no start-up banner within ${START_DEADLINE_MS} ms:\n${output}`));
    }, START_DEADLINE_MS);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /open (http:\/\/\S+?)\/?\s/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolvePromise({ child, url: (match[1] as string).replace('localhost', '127.0.0.1'), output: () => output });
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`exited with ${code} before starting:\n${output}`));
    });
  });
}

/** Runs main.js to completion and returns its exit code and output (for refusals to start). */
function runToExit(env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, [MAIN], { env: { PATH: process.env['PATH'] ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  return new Promise((resolvePromise) => child.once('exit', (code) => resolvePromise({ code, output })));
}

function stop(running: Running): Promise<number | null> {
  return new Promise((resolvePromise) => {
    running.child.once('exit', (code) => resolvePromise(code));
    running.child.kill('SIGTERM');
  });
}

describe('the app as a process (npm start)', () => {
  let dataDir: string;
  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'keycard-demo-main-'));
  });
  after(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  it('refuses to start in production without SESSION_SECRETS, and says why', async () => {
    const { code, output } = await runToExit({ NODE_ENV: 'production', DATA_DIR: dataDir });
    assert.equal(code, 1);
    assert.match(output, /SESSION_SECRETS is required when NODE_ENV=production/);
  });

  it('refuses invalid configuration with one message per variable', async () => {
    const { code, output } = await runToExit({ DATA_DIR: dataDir, PORT: 'eighty', PLATFORM: 'koa', COOKIE_SECURE: 'maybe' });
    assert.equal(code, 1);
    assert.match(output, /PORT must be a whole number/);
    assert.match(output, /PLATFORM must be "express" or "fastify"/);
    assert.match(output, /COOKIE_SECURE must be auto, true or false/);
  });

  it('starts with no server, generates a 0600 secret, stops on SIGTERM, and keeps sessions across a restart (Express, then Fastify)', async () => {
    const first = await start({ DATA_DIR: dataDir });
    let stopped = false;
    try {
      assert.match(first.output(), /SESSION_SECRETS is not set: generated a development secret/);
      const secret = await stat(join(dataDir, 'session-secret'));
      assert.equal(secret.mode & 0o777, 0o600);
      const client = new Client(first.url);
      const registered = await client.post('/api/auth/register', {
        json: { email: 'restart@example.test', password: PASSWORD, name: 'Restart' },
      });
      assert.equal(registered.status, 201, registered.text);
      // No ADMIN_EMAIL: the first registered user is the admin, the next one is not.
      assert.deepEqual([...registered.json.user.roles].sort(), ['admin', 'user']);
      const next = await new Client(first.url).post('/api/auth/register', {
        json: { email: 'second@example.test', password: PASSWORD, name: 'Second' },
      });
      assert.deepEqual(next.json.user.roles, ['user']);
      assert.equal(await stop(first), 0);
      stopped = true;

      // The same data on the other platform: what Express stored, Fastify serves.
      const second = await start({ DATA_DIR: dataDir, PLATFORM: 'fastify' });
      try {
        assert.doesNotMatch(second.output(), /generated a development secret/);
        const again = client.clone(client.userAgent, client.ip, second.url);
        const me = await again.get('/api/auth/me');
        assert.equal(me.status, 200, `the session survived the restart: ${me.text}`);
        assert.equal(me.json.user.email, 'restart@example.test');
      } finally {
        assert.equal(await stop(second), 0);
        assert.match(second.output(), /keycard demo stopped/);
      }

      // ADMIN_EMAIL set later: that existing account becomes admin at the next start.
      const third = await start({ DATA_DIR: dataDir, ADMIN_EMAIL: 'SECOND@example.test' });
      try {
        const login = await new Client(third.url).post('/api/auth/login', {
          json: { email: 'second@example.test', password: PASSWORD },
        });
        assert.equal(login.status, 200, login.text);
        assert.deepEqual([...login.json.user.roles].sort(), ['admin', 'user']);
      } finally {
        assert.equal(await stop(third), 0);
      }
    } finally {
      if (!stopped) first.child.kill('SIGKILL');
    }
  });
});
