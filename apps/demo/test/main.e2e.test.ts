import assert from 'node:assert/strict';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PASSWORD } from './support/accounts.js';
import { Client } from './support/http-client.js';
import { runToExit, start, stop, type Running } from './support/app-process.js';

/**
 * The app as `npm start` runs it: a separate process configured only by
 * environment, on the embedded database, stopped with SIGTERM.
 */

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
