import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PASSWORD } from './support/accounts.js';
import { Client } from './support/http-client.js';
import { runAdminCli, runToExit, start, stop, type Running } from './support/app-process.js';

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

  // Finding 7 of issue 13: TRUST_PROXY=true trusted the client's left-most X-Forwarded-For.
  it('refuses TRUST_PROXY=true, and an entry that is not an address, saying why', async () => {
    const refused = await runToExit({ DATA_DIR: dataDir, TRUST_PROXY: 'true' });
    assert.equal(refused.code, 1);
    assert.match(refused.output, /TRUST_PROXY=true is refused: it would trust whatever a client writes in X-Forwarded-For/);
    const bad = await runToExit({ DATA_DIR: dataDir, TRUST_PROXY: '10.0.0.0/8,proxy.internal' });
    assert.equal(bad.code, 1);
    assert.match(bad.output, /TRUST_PROXY must be a number of hops or a comma-separated list of proxy addresses\/CIDRs; not an address: "proxy.internal"/);
  });

  // Finding 1 of issue 13: the admin account is provisioned by the operator, never claimed by a registration.
  it('in production, refuses ADMIN_EMAIL without ADMIN_PASSWORD when that account does not exist', async () => {
    const fresh = await mkdtemp(join(tmpdir(), 'keycard-demo-admin-'));
    try {
      const { code, output } = await runToExit({
        NODE_ENV: 'production',
        DATA_DIR: fresh,
        SESSION_SECRETS: 's'.repeat(40),
        ADMIN_EMAIL: 'boss@example.test',
      });
      assert.equal(code, 1, output);
      assert.match(output, /ADMIN_EMAIL is boss@example.test, no such account exists, and ADMIN_PASSWORD is not set/);
    } finally {
      await rm(fresh, { recursive: true, force: true });
    }
  });

  it('creates the ADMIN_EMAIL account at start-up: with ADMIN_PASSWORD, or (development) a generated one kept 0600 and never printed', async () => {
    const fresh = await mkdtemp(join(tmpdir(), 'keycard-demo-admin-'));
    try {
      const generated = await start({ DATA_DIR: fresh, ADMIN_EMAIL: 'Boss@Example.test' });
      let password: string;
      try {
        const file = join(fresh, 'admin-password');
        assert.equal((await stat(file)).mode & 0o777, 0o600);
        password = (await readFile(file, 'utf8')).trim();
        assert.match(generated.output(), /created the admin account boss@example.test with the generated password in .*admin-password/);
        assert.ok(!generated.output().includes(password), 'the password is not printed');
        const admin = new Client(generated.url);
        const login = await admin.post('/api/auth/login', { json: { email: 'boss@example.test', password } });
        assert.equal(login.status, 200, login.text);
        assert.deepEqual([...login.json.user.roles].sort(), ['admin', 'user']);
      } finally {
        assert.equal(await stop(generated), 0);
      }
      // A restart keeps the account and its password; ADMIN_PASSWORD does not overwrite an existing account.
      const again = await start({ DATA_DIR: fresh, ADMIN_EMAIL: 'boss@example.test', ADMIN_PASSWORD: 'another passphrase here' });
      try {
        assert.doesNotMatch(again.output(), /generated password/);
        assert.equal((await new Client(again.url).post('/api/auth/login', { json: { email: 'boss@example.test', password } })).status, 200);
      } finally {
        assert.equal(await stop(again), 0);
      }
    } finally {
      await rm(fresh, { recursive: true, force: true });
    }
  });

  // Review of the issue-13 fixes, finding 1: start-up promoted whatever account held ADMIN_EMAIL, so whoever
  // registered that e-mail while the app ran without it became admin when the operator set it.
  it('does not promote an account registered with ADMIN_EMAIL before it was set, unless ADMIN_PASSWORD is its password; refuses to start and says what to do', async () => {
    const fresh = await mkdtemp(join(tmpdir(), 'keycard-demo-claim-'));
    const attackerPassword = 'mallory was here first';
    try {
      const before = await start({ DATA_DIR: fresh });
      try {
        const claim = await new Client(before.url).post('/api/auth/register', { json: { email: 'Boss@Example.test', password: attackerPassword, name: 'Mallory' } });
        assert.equal(claim.status, 201, claim.text);
      } finally {
        assert.equal(await stop(before), 0);
      }
      const advice = /Check that account, then promote it deliberately with `npm run admin -- promote boss@example.test`/;
      for (const [env, reason] of [
        [{}, /already exists without the role admin, and ADMIN_PASSWORD is not set: it is not promoted/],
        [{ ADMIN_PASSWORD: 'the operator passphrase' }, /already exists without the role admin, but ADMIN_PASSWORD is not its password: it is not promoted/],
        [{ NODE_ENV: 'production', SESSION_SECRETS: 's'.repeat(40) }, /already exists without the role admin, and ADMIN_PASSWORD is not set/],
      ] as const) {
        const refused = await runToExit({ DATA_DIR: fresh, ADMIN_EMAIL: 'boss@example.test', ...env });
        assert.equal(refused.code, 1, refused.output);
        assert.match(refused.output, reason);
        assert.match(refused.output, advice);
      }
      // Nothing was promoted by those attempts.
      const plain = await start({ DATA_DIR: fresh });
      try {
        const login = await new Client(plain.url).post('/api/auth/login', { json: { email: 'boss@example.test', password: attackerPassword } });
        assert.equal(login.status, 200, login.text);
        assert.deepEqual(login.json.user.roles, ['user'], 'the pre-registered account is still a plain user');
      } finally {
        assert.equal(await stop(plain), 0);
      }
      // The operator's own account: ADMIN_PASSWORD proves it, and start-up promotes it.
      const proven = await start({ DATA_DIR: fresh, ADMIN_EMAIL: 'boss@example.test', ADMIN_PASSWORD: attackerPassword });
      try {
        const login = await new Client(proven.url).post('/api/auth/login', { json: { email: 'boss@example.test', password: attackerPassword } });
        assert.equal(login.status, 200, login.text);
        assert.deepEqual([...login.json.user.roles].sort(), ['admin', 'user']);
      } finally {
        assert.equal(await stop(proven), 0);
      }
    } finally {
      await rm(fresh, { recursive: true, force: true });
    }
  });

  it('after a refused start, `npm run admin -- promote` is the deliberate way: the app then starts with ADMIN_EMAIL alone', async () => {
    const fresh = await mkdtemp(join(tmpdir(), 'keycard-demo-claim-'));
    try {
      const before = await start({ DATA_DIR: fresh });
      try {
        assert.equal((await new Client(before.url).post('/api/auth/register', { json: { email: 'ops@example.test', password: PASSWORD, name: 'Ops' } })).status, 201);
      } finally {
        assert.equal(await stop(before), 0);
      }
      assert.equal((await runToExit({ DATA_DIR: fresh, ADMIN_EMAIL: 'ops@example.test' })).code, 1);
      const promote = await runAdminCli(['promote', 'ops@example.test'], { DATA_DIR: fresh });
      assert.equal(promote.code, 0, promote.output);
      const started = await start({ DATA_DIR: fresh, ADMIN_EMAIL: 'ops@example.test' });
      try {
        const login = await new Client(started.url).post('/api/auth/login', { json: { email: 'ops@example.test', password: PASSWORD } });
        assert.deepEqual([...login.json.user.roles].sort(), ['admin', 'user']);
      } finally {
        assert.equal(await stop(started), 0);
      }
    } finally {
      await rm(fresh, { recursive: true, force: true });
    }
  });

  it('npm run admin -- promote|demote|sessions|revoke <email>, from the repository root', async () => {
    const fresh = await mkdtemp(join(tmpdir(), 'keycard-demo-cli-'));
    try {
      const app = await start({ DATA_DIR: fresh });
      const user = new Client(app.url);
      try {
        const registered = await user.post('/api/auth/register', { json: { email: 'ops@example.test', password: PASSWORD, name: 'Ops' } });
        assert.equal(registered.status, 201, registered.text);
        assert.deepEqual(registered.json.user.roles, ['user']);
      } finally {
        assert.equal(await stop(app), 0);
      }
      // PGlite is one process's database: the CLI runs while the app is stopped.
      const promote = await runAdminCli(['promote', 'OPS@example.test'], { DATA_DIR: fresh });
      assert.equal(promote.code, 0, promote.output);
      assert.match(promote.output, /ops@example.test is now an administrator/);
      const sessions = await runAdminCli(['sessions', 'ops@example.test'], { DATA_DIR: fresh });
      assert.equal(sessions.code, 0, sessions.output);
      assert.match(sessions.output, /ops@example.test: 1 live session\n/);
      const unknown = await runAdminCli(['promote', 'nobody@example.test'], { DATA_DIR: fresh });
      assert.equal(unknown.code, 1);
      assert.match(unknown.output, /no account with the e-mail nobody@example.test/);
      const usage = await runAdminCli(['elevate', 'ops@example.test'], { DATA_DIR: fresh });
      assert.equal(usage.code, 2);
      assert.match(usage.output, /usage: npm run admin -- <command> <email>/);

      const restarted = await start({ DATA_DIR: fresh });
      try {
        const again = user.clone(user.userAgent, user.ip, restarted.url);
        const me = await again.get('/api/auth/me');
        assert.equal(me.status, 200, me.text);
        assert.deepEqual([...me.json.user.roles].sort(), ['admin', 'user'], 'the live session sees the new role');
      } finally {
        assert.equal(await stop(restarted), 0);
      }
      const demote = await runAdminCli(['demote', 'ops@example.test'], { DATA_DIR: fresh });
      assert.match(demote.output, /ops@example.test is no longer an administrator/);
      const revoke = await runAdminCli(['revoke', 'ops@example.test'], { DATA_DIR: fresh });
      assert.equal(revoke.code, 0, revoke.output);
      assert.match(revoke.output, /ops@example.test: 1 session signed out/);
      const last = await start({ DATA_DIR: fresh });
      try {
        assert.equal((await user.clone(user.userAgent, user.ip, last.url).get('/api/auth/me')).status, 401, 'signed out everywhere');
      } finally {
        assert.equal(await stop(last), 0);
      }
    } finally {
      await rm(fresh, { recursive: true, force: true });
    }
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
      // Finding 1 of issue 13: being the first user made one admin. Registration only ever creates `user`s.
      assert.deepEqual(registered.json.user.roles, ['user']);
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

    } finally {
      if (!stopped) first.child.kill('SIGKILL');
    }
  });
});
