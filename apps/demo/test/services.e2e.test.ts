import 'reflect-metadata';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { PASSWORD, registerAccount, signInAgain } from './support/accounts.js';
import { Client } from './support/http-client.js';
import { DATABASE_URL, REDIS_URL, serviceSkipReason } from './support/services.js';
import { TcpProxy } from './support/tcp-proxy.js';
import { runAdminCli } from './support/app-process.js';
import { openSocket } from './support/ws-client.js';
import { startTestApp, uniqueIp, type TestApp } from './support/test-app.js';

/**
 * The production shape: users in PostgreSQL (DATABASE_URL), sessions and
 * sign-in counters in Redis (REDIS_URL). Redis is reached through a relay the
 * test can cut, to see a store outage answered with 503 (never 500) and
 * service come back by itself.
 */

const skip = (await serviceSkipReason('PostgreSQL', DATABASE_URL, 5432)) || (await serviceSkipReason('Redis', REDIS_URL, 6379));
const SCHEMA = `demo_test_${process.pid}`;

async function waitFor(what: string, check: () => Promise<boolean>, deadlineMs = 10_000): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

describe('on PostgreSQL and Redis', { skip }, () => {
  let app: TestApp;
  let proxy: TcpProxy;
  let admin: pg.Client;
  let databaseUrl: string;

  before(async () => {
    admin = new pg.Client({ connectionString: DATABASE_URL });
    await admin.connect();
    await admin.query(`CREATE SCHEMA ${SCHEMA}`);
    const redis = new URL(REDIS_URL);
    proxy = await new TcpProxy(redis.hostname, Number(redis.port || 6379)).start();
    const database = new URL(DATABASE_URL);
    // Every table of this run (users, keycard's rate limits) goes into a schema of its own.
    database.searchParams.set('options', `-c search_path=${SCHEMA}`);
    databaseUrl = database.toString();
    app = await startTestApp('fastify', {
      DATABASE_URL: databaseUrl,
      REDIS_URL: `redis://127.0.0.1:${proxy.port}`,
    });
  });
  after(async () => {
    await app?.close();
    await proxy?.close();
    await admin?.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
    await admin?.end();
  });

  it('keeps users in PostgreSQL and sessions in Redis', async () => {
    const account = await registerAccount(app.url);
    const rows = await admin.query(`SELECT email, roles FROM ${SCHEMA}.users WHERE id = $1`, [account.id]);
    assert.equal(rows.rows[0]?.email, account.email);
    const second = await signInAgain(app.url, account);
    const list = await account.client.get('/api/auth/sessions');
    assert.equal(list.json.sessions.length, 2);
    assert.equal((await account.client.delete('/api/auth/sessions')).status, 204);
    assert.equal((await second.get('/api/auth/me')).status, 401);
    const health = await new Client(app.url).get('/api/health');
    assert.deepEqual(health.json, { status: 'ok', store: 'up' });
  });

  // Issue 14 / SPEC "Administrators": sessions and revoke are keycard's CLI commands (keycard/cli) on the app's store.
  it('npm run admin -- sessions|revoke <email> reach the running app’s Redis store: both devices listed, then signed out, their WebSocket closed within a second', async () => {
    const account = await registerAccount(app.url);
    const laptop = await signInAgain(app.url, account, 'operators-laptop');
    const socket = await openSocket(laptop);
    const env = { DATABASE_URL: databaseUrl, REDIS_URL, DATA_DIR: app.dataDir };

    const listed = await runAdminCli(['sessions', account.email.toUpperCase()], env);
    assert.equal(listed.code, 0, listed.output);
    assert.match(listed.output, new RegExp(`^${account.email}: 2 live sessions\n`));
    const handles = (await account.client.get('/api/auth/sessions')).json.sessions.map((entry: { id: string }) => entry.id);
    for (const handle of handles) assert.ok(listed.output.includes(handle), `handle ${handle} listed:\n${listed.output}`);
    assert.match(listed.output, /operators-laptop/);
    assert.match(listed.output, /203\.0\.113\.\d+/);

    const revoked = await runAdminCli(['revoke', account.email], env);
    assert.equal(revoked.code, 0, revoked.output);
    assert.match(revoked.output, new RegExp(`^${account.email}: 2 sessions signed out\n`));
    // Within a second of the command's end (it may already have closed while npm was exiting).
    await socket.closed(1000);
    assert.equal((await account.client.get('/api/auth/me')).status, 401);
    assert.equal((await laptop.get('/api/auth/me')).status, 401);
    const none = await runAdminCli(['sessions', account.email], env);
    assert.match(none.output, new RegExp(`^${account.email}: 0 live sessions\n`));

    const unknown = await runAdminCli(['revoke', 'nobody@example.test'], env);
    assert.equal(unknown.code, 1);
    assert.match(unknown.output, /no account with the e-mail nobody@example.test/);
  });

  it('answers 503 while Redis is down, never 500, and recovers by itself', async () => {
    const account = await registerAccount(app.url);
    await proxy.cut();
    try {
      const health = await new Client(app.url).get('/api/health');
      assert.equal(health.status, 503, health.text);
      assert.equal(health.json.status, 'unavailable');
      assert.equal(health.json.store, 'down');
      const me = await account.client.get('/api/auth/me');
      assert.equal(me.status, 503, me.text);
      // The session's CSRF token cannot be made without the session; a signed-out client still gets one.
      const csrf = await account.client.get('/api/auth/csrf');
      assert.equal(csrf.status, 503, csrf.text);
      assert.equal((await new Client(app.url).get('/api/auth/csrf')).status, 200);
      const login = await new Client(app.url, 'test', uniqueIp()).post('/api/auth/login', {
        json: { email: account.email, password: PASSWORD },
      });
      assert.equal(login.status, 503, login.text);
      const page = await account.client.get('/', { headers: { accept: 'text/html' } });
      assert.ok(page.status < 500 || page.status === 503, `home page: ${page.status}`);
    } finally {
      await proxy.restore();
    }
    await waitFor('the health check to pass again', async () => (await new Client(app.url).get('/api/health')).status === 200);
    assert.equal((await account.client.get('/api/auth/me')).status, 200);
  });
});
