import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../src/config/config.js';
import { resolveSecrets, SECRET_FILE } from '../src/config/secrets.js';
import { sessionStoreUrl } from '../src/sessions/stores.js';

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
    assert.equal(config.trustProxy, 0);
    assert.deepEqual(config.login, { maxAttempts: 5, window: 900, ipMaxAttempts: 50 });
    // SPEC defaults (findings 2 and 12 of issue 13).
    assert.equal(config.maxSessionsPerUser, 50);
    assert.equal(config.registerMaxPerIp, 20);
    assert.equal(config.adminEmail, undefined);
    assert.equal(config.adminPassword, undefined);
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
    assert.deepEqual(loadConfig({ TRUST_PROXY: 'loopback, 10.0.0.0/8, 2001:db8::/32, 192.0.2.7' }).trustProxy, ['loopback', '10.0.0.0/8', '2001:db8::/32', '192.0.2.7']);
    assert.equal(loadConfig({ TRUST_PROXY: 'false' }).trustProxy, 0);
    assert.equal(loadConfig({ REGISTER_MAX_PER_IP: '5' }).registerMaxPerIp, 5);
    assert.equal(loadConfig({ ADMIN_EMAIL: 'a@b.example', ADMIN_PASSWORD: 'long enough pw' }).adminPassword, 'long enough pw');
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

  // Finding 7 of issue 13: `true` trusted the left-most X-Forwarded-For, which the client writes itself.
  it('refuses TRUST_PROXY=true (any case) and entries that are not addresses or CIDRs', () => {
    for (const value of ['true', 'TRUE', ' True ']) {
      assert.deepEqual(problems({ TRUST_PROXY: value }), [
        'TRUST_PROXY=true is refused: it would trust whatever a client writes in X-Forwarded-For; give the number of proxies in front of the app (e.g. 1) or their addresses (e.g. 10.0.0.0/8,127.0.0.1)',
      ]);
    }
    for (const value of ['10.0.0.0/33', '10.0.0.1/8/8', 'proxy.internal', '*', 'all', '300']) {
      assert.equal(problems({ TRUST_PROXY: value }).length, 1, value);
      assert.match(problems({ TRUST_PROXY: value })[0] ?? '', /^TRUST_PROXY must be a number of hops or a comma-separated list/, value);
    }
  });

  it('checks ADMIN_PASSWORD against the password policy, never echoing it, and needs ADMIN_EMAIL with it', () => {
    assert.deepEqual(problems({ ADMIN_EMAIL: 'a@b.example', ADMIN_PASSWORD: 'short' }), ['ADMIN_PASSWORD must be at least 8 characters']);
    assert.deepEqual(problems({ ADMIN_PASSWORD: 'long enough pw' }), ['ADMIN_PASSWORD is set without ADMIN_EMAIL (the account it is for)']);
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

  it('names the session store for keycard’s CLI (npm run admin -- sessions|revoke): Redis, Cluster, Sentinel, PostgreSQL, PGlite', () => {
    const url = (env: Record<string, string>) => {
      const config = loadConfig(env, '/srv/app');
      return sessionStoreUrl(config.redis, config);
    };
    assert.equal(url({ REDIS_URL: 'redis://:pw@cache:6380/2', DATABASE_URL: 'postgres://db/app' }), 'redis://:pw@cache:6380/2');
    assert.equal(url({ REDIS_CLUSTER_NODES: 'a:7000,b:7001' }), 'redis+cluster://a:7000,b:7001');
    assert.equal(url({ REDIS_SENTINELS: 's1:26379,s2:26380', REDIS_SENTINEL_NAME: 'keycard' }), 'redis+sentinel://s1:26379,s2:26380/keycard');
    assert.equal(url({ DATABASE_URL: 'postgres://db/app' }), 'postgres://db/app');
    assert.equal(url({ DATA_DIR: 'state' }), 'pglite:/srv/app/state/pglite');
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
