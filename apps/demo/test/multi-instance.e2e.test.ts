import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { registerAccount } from './support/accounts.js';
import { start, stop, type Running } from './support/app-process.js';
import { DATABASE_URL, REDIS_URL, serviceSkipReason } from './support/services.js';
import { openSocket } from './support/ws-client.js';

/**
 * Two app processes, as a deployment runs them: one on Express, one on
 * Fastify, sharing one PostgreSQL (users) and one Redis (sessions). A session
 * made on one works on the other; signing out on the other ends it
 * everywhere, and the first one's WebSocket closes.
 */

const skip = (await serviceSkipReason('PostgreSQL', DATABASE_URL, 5432)) || (await serviceSkipReason('Redis', REDIS_URL, 6379));
const SCHEMA = `demo_multi_${process.pid}`;

describe('two app processes on one PostgreSQL and one Redis', { skip }, () => {
  let admin: pg.Client;
  let dataDir: string;
  let first: Running;
  let second: Running;

  before(async () => {
    admin = new pg.Client({ connectionString: DATABASE_URL });
    await admin.connect();
    await admin.query(`CREATE SCHEMA ${SCHEMA}`);
    dataDir = await mkdtemp(join(tmpdir(), 'keycard-demo-multi-'));
    const database = new URL(DATABASE_URL);
    database.searchParams.set('options', `-c search_path=${SCHEMA}`);
    const env = {
      DATA_DIR: dataDir,
      DATABASE_URL: database.toString(),
      REDIS_URL,
      // Both instances must sign and verify with the same keys, as in production.
      SESSION_SECRETS: randomBytes(32).toString('base64url'),
    };
    // One after the other: both would run the same migrations at once otherwise (they lock, but slower).
    first = await start({ ...env, PLATFORM: 'express' });
    second = await start({ ...env, PLATFORM: 'fastify' });
  });

  after(async () => {
    if (first) await stop(first);
    if (second) await stop(second);
    await admin?.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
    await admin?.end();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('signs in on one, is used and signed out on the other, and the first one’s socket closes', async () => {
    const account = await registerAccount(first.url);
    const onFirst = account.client;
    assert.equal((await onFirst.get('/api/auth/me')).status, 200);

    // The same cookies, sent to the other process.
    const onSecond = onFirst.clone(undefined, undefined, second.url);
    const me = await onSecond.get('/api/auth/me');
    assert.equal(me.status, 200, me.text);
    assert.equal(me.json.user.email, account.email);

    const socket = await openSocket(onFirst);
    socket.socket.send(JSON.stringify({ type: 'whoami' }));
    assert.deepEqual(((await socket.next()) as { user: { email: string } }).user.email, account.email);

    const started = performance.now();
    assert.equal((await onSecond.post('/api/auth/logout')).status, 204);
    const code = await socket.closed(1000);
    const elapsed = performance.now() - started;
    assert.equal(code, 4401);
    assert.ok(elapsed < 1000, `the socket closed after ${elapsed.toFixed(0)} ms`);
    assert.equal((await onFirst.get('/api/auth/me')).status, 401);
    assert.equal((await onSecond.get('/api/auth/me')).status, 401);
  });
});
