import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../src/config/config.js';
import { resolveSecrets, SECRET_FILE } from '../src/config/secrets.js';

const SECRET = 's'.repeat(32);

function problems(env: Record<string, string>): string[] {
  try {
    loadConfig(env, '/srv/app');
  } catch (error) {
    if (error instanceof ConfigError) return [...error.problems];
    throw error;
  }
  assert.fail('expected a ConfigError');
}

describe('loadConfig', () => {
  it('has working defaults for a fresh clone', () => {
    const config = loadConfig({}, '/srv/app');
    assert.equal(config.port, 3000);
    assert.equal(config.platform, 'express');
    assert.equal(config.dataDir, '/srv/app/data');
    assert.equal(config.databaseUrl, undefined);
    assert.equal(config.redis, undefined);
    assert.equal(config.sessionSecrets, undefined);
    assert.equal(config.cookieSecure, 'auto');
    assert.equal(config.trustProxy, false);
    assert.deepEqual(config.login, { maxAttempts: 5, window: 900, ipMaxAttempts: 50 });
  });

  it('reads every SPEC variable', () => {
    const config = loadConfig(
      {
        PORT: '8080',
        PLATFORM: 'Fastify',
        DATA_DIR: 'var/state',
        DATABASE_URL: 'postgres://u@db:5432/app',
        REDIS_CLUSTER_NODES: 'r1:7000, r2:7001',
        SESSION_SECRETS: `${SECRET}, ${'t'.repeat(40)}`,
        SESSION_IDLE_TIMEOUT: '600',
        SESSION_ABSOLUTE_TIMEOUT: '3600',
        MAX_SESSIONS_PER_USER: '3',
        LOGIN_MAX_ATTEMPTS: '4',
        LOGIN_WINDOW: '60',
        TRUST_PROXY: '2',
        COOKIE_SECURE: 'true',
        ADMIN_EMAIL: 'Boss@Example.com',
      },
      '/srv/app',
    );
    assert.equal(config.port, 8080);
    assert.equal(config.platform, 'fastify');
    assert.equal(config.dataDir, '/srv/app/var/state');
    assert.equal(config.databaseUrl, 'postgres://u@db:5432/app');
    assert.deepEqual(config.redis, { kind: 'cluster', nodes: [{ host: 'r1', port: 7000 }, { host: 'r2', port: 7001 }] });
    assert.deepEqual(config.sessionSecrets, [SECRET, 't'.repeat(40)]);
    assert.equal(config.idleTimeout, 600);
    assert.equal(config.absoluteTimeout, 3600);
    assert.equal(config.maxSessionsPerUser, 3);
    assert.deepEqual(config.login, { maxAttempts: 4, window: 60, ipMaxAttempts: 40 });
    assert.equal(config.trustProxy, 2);
    assert.equal(config.cookieSecure, true);
    assert.equal(config.adminEmail, 'boss@example.com');
    assert.deepEqual(loadConfig({ REDIS_URL: 'redis://cache:6379/1' }).redis, { kind: 'standalone', url: 'redis://cache:6379/1' });
    assert.equal(loadConfig({ TRUST_PROXY: 'true' }).trustProxy, true);
    assert.equal(loadConfig({ TRUST_PROXY: 'loopback, 10.0.0.0/8' }).trustProxy, 'loopback, 10.0.0.0/8');
    assert.equal(loadConfig({ COOKIE_SECURE: 'false' }).cookieSecure, false);
  });

  it('treats empty variables as unset', () => {
    assert.equal(loadConfig({ PORT: '', SESSION_SECRETS: ' ' }).port, 3000);
  });

  it('refuses production without SESSION_SECRETS, saying what to set', () => {
    const [message] = problems({ NODE_ENV: 'production' });
    assert.match(message ?? '', /SESSION_SECRETS is required when NODE_ENV=production/);
    assert.doesNotThrow(() => loadConfig({ NODE_ENV: 'production', SESSION_SECRETS: SECRET }));
  });

  it('reports every bad variable at once, each by name', () => {
    const found = problems({
      PORT: '70000',
      PLATFORM: 'koa',
      DATABASE_URL: 'mysql://x',
      REDIS_URL: 'http://x',
      SESSION_SECRETS: 'short',
      SESSION_IDLE_TIMEOUT: '-5',
      MAX_SESSIONS_PER_USER: '0',
      LOGIN_MAX_ATTEMPTS: 'many',
      COOKIE_SECURE: 'yes',
      ADMIN_EMAIL: 'nobody',
      TRUST_PROXY: 'x;y',
      REDIS_CLUSTER_NODES: 'nohost',
    });
    for (const name of [
      'PORT',
      'PLATFORM',
      'DATABASE_URL',
      'REDIS_URL',
      'SESSION_SECRETS',
      'SESSION_IDLE_TIMEOUT',
      'MAX_SESSIONS_PER_USER',
      'LOGIN_MAX_ATTEMPTS',
      'COOKIE_SECURE',
      'ADMIN_EMAIL',
      'TRUST_PROXY',
      'REDIS_CLUSTER_NODES',
    ]) {
      assert.ok(found.some((problem) => problem.includes(name)), `${name} is named in: ${found.join(' | ')}`);
    }
  });

  it('reads Sentinel and METRICS', () => {
    const config = loadConfig({ REDIS_SENTINELS: 's1:26379, s2:26380', REDIS_SENTINEL_NAME: 'keycard', METRICS: '1' });
    assert.deepEqual(config.redis, {
      kind: 'sentinel',
      name: 'keycard',
      sentinels: [
        { host: 's1', port: 26379 },
        { host: 's2', port: 26380 },
      ],
    });
    assert.equal(config.metrics, true);
    assert.equal(loadConfig({}).metrics, false);
  });

  it('refuses contradictions', () => {
    assert.match(problems({ REDIS_URL: 'redis://a', REDIS_CLUSTER_NODES: 'b:1' }).join(), /not several/);
    assert.match(problems({ REDIS_URL: 'redis://a', REDIS_SENTINELS: 'b:1', REDIS_SENTINEL_NAME: 'm' }).join(), /not several/);
    assert.match(problems({ REDIS_SENTINELS: 'b:1' }).join(), /REDIS_SENTINELS needs REDIS_SENTINEL_NAME/);
    assert.match(problems({ REDIS_SENTINEL_NAME: 'm' }).join(), /without REDIS_SENTINELS/);
    assert.match(problems({ REDIS_SENTINELS: 'b' }).join(), /REDIS_SENTINELS entries must look like host:port/);
    assert.match(problems({ METRICS: 'yes' }).join(), /METRICS must be 1/);
    assert.match(problems({ SESSION_IDLE_TIMEOUT: '100', SESSION_ABSOLUTE_TIMEOUT: '50' }).join(), /SESSION_IDLE_TIMEOUT/);
  });
});

describe('resolveSecrets', () => {
  it('generates a development secret once, mode 0600, and reuses it', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'keycard-demo-secret-'));
    try {
      const config = loadConfig({ DATA_DIR: dataDir });
      const first = await resolveSecrets(config);
      assert.match(first.warning ?? '', /generated a development secret/);
      assert.equal(first.secrets.length, 1);
      assert.ok((first.secrets[0] ?? '').length >= 32);
      const file = join(dataDir, SECRET_FILE);
      assert.equal((await stat(file)).mode & 0o777, 0o600);
      assert.equal((await readFile(file, 'utf8')).trim(), first.secrets[0]);
      const second = await resolveSecrets(config);
      assert.deepEqual(second.secrets, first.secrets);
      assert.match(second.warning ?? '', /using the development secret/);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('uses SESSION_SECRETS without touching the disk', async () => {
    const dataDir = join(tmpdir(), `keycard-demo-never-${process.pid}`);
    const resolved = await resolveSecrets(loadConfig({ DATA_DIR: dataDir, SESSION_SECRETS: SECRET }));
    assert.deepEqual(resolved.secrets, [SECRET]);
    assert.equal(resolved.warning, undefined);
    await assert.rejects(stat(dataDir), { code: 'ENOENT' });
  });

  it('refuses a secret file that was emptied', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'keycard-demo-secret-'));
    try {
      await writeFile(join(dataDir, SECRET_FILE), 'short\n', { mode: 0o600 });
      await assert.rejects(resolveSecrets(loadConfig({ DATA_DIR: dataDir })), /shorter than 32 characters/);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
