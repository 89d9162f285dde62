import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ServerProcess } from '../src/harness/server-process.js';
import { checkAuthenticatedRead, PLACEHOLDER_COOKIE, signIn } from '../src/harness/sign-in.js';

describe('when a variant server runs in its own process', () => {
  let server: ServerProcess;
  before(async () => {
    server = await ServerProcess.start('fastify', 'ceiling.js', { platform: 'fastify', store: 'none', namespace: 'test' });
  });
  after(async () => {
    await server.stop();
  });

  it('start — listens on a loopback port of its own', () => {
    assert.match(server.baseUrl, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.notEqual(server.pid, process.pid);
  });

  it('signIn — a ceiling sets no cookie, so the placeholder of the same size is sent', async () => {
    const cookie = await signIn(server.baseUrl, false);
    assert.equal(cookie, PLACEHOLDER_COOKIE);
    await checkAuthenticatedRead(server.baseUrl, cookie, false);
  });

  it('cpuMicros — the server reports its own CPU time, which grows with requests', async () => {
    const before = await server.cpuMicros();
    for (let i = 0; i < 50; i++) await (await fetch(`${server.baseUrl}/me`)).arrayBuffer();
    assert.ok((await server.cpuMicros()) > before);
  });

  it('checkAuthenticatedRead — refuses a variant that lets anonymous requests read /me', async () => {
    await assert.rejects(checkAuthenticatedRead(server.baseUrl, PLACEHOLDER_COOKIE, true), /without a cookie answered 200, expected 401/);
  });
});

describe('when a variant server cannot start', () => {
  it('start — rejects with the reason the server reported', async () => {
    await assert.rejects(
      ServerProcess.start('express-session', 'express-session.js', { platform: 'express', store: 'redis', namespace: 'test' }),
      /express-session failed: Error: the express-session variants need redisUrl/,
    );
  });
});
