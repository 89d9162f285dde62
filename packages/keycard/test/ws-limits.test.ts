/**
 * WebSocket limits and the upgrade's trust rule. Regressions pinned: `ws`
 * accepted messages up to 100 MiB (a 90 MiB frame stalled the event loop for
 * 2 s) and any number of them; the client IP of an upgrade was the left-most
 * `X-Forwarded-For` entry, which the client writes itself.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { MessageRate, WS_CLOSE_POLICY, WS_CLOSE_TOO_BIG, upgradeInfoOf } from '../src/ws/index.js';
import { SessionManager } from '../src/index.js';
import { PLATFORMS, expectStatus, startApp, type RunningApp } from './support/http.js';
import { within } from './support/poll.js';
import { ConnectionLog, useKeycardWs, wsApp } from './support/ws-app.js';
import { connect } from './support/ws-client.js';

describe('MessageRate', () => {
  it('admit — 20 messages within a second pass, the 21st does not, and the window slides', () => {
    let now = 0;
    const rate = new MessageRate(20, () => now);
    for (let i = 0; i < 20; i++) {
      assert.equal(rate.admit(), true, `message ${i + 1}`);
      now += 10;
    }
    assert.equal(rate.admit(), false, 'the 21st within 1000 ms');
    // 1000 ms after the first message, one slot is free again.
    now = 1000;
    assert.equal(rate.admit(), true);
    assert.equal(rate.admit(), false);
  });

  it('admit — a steady 20 per second never trips it', () => {
    let now = 0;
    const rate = new MessageRate(20, () => now);
    for (let i = 0; i < 200; i++) {
      assert.equal(rate.admit(), true, `message ${i + 1} at ${now} ms`);
      now += 50;
    }
  });
});

describe('upgradeInfoOf — the trust rule of Express (proxy-addr)', () => {
  function upgrade(peer: string, headers: Record<string, string>): IncomingMessage {
    const socket = new Socket();
    Object.defineProperty(socket, 'remoteAddress', { value: peer });
    const request = new IncomingMessage(socket);
    request.headers = { host: 'internal:3000', ...headers };
    return request;
  }
  const forged = { 'x-forwarded-for': '6.6.6.6, 203.0.113.7', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'app.example' };

  it('without trust, the socket peer and the Host header count, whatever the headers say', () => {
    const info = upgradeInfoOf(upgrade('10.0.0.2', forged));
    assert.deepEqual([info.ip, info.secure, info.host], ['10.0.0.2', false, 'internal:3000']);
  });

  it('one trusted hop: the address the proxy saw, never the left-most entry the client wrote', () => {
    const info = upgradeInfoOf(upgrade('10.0.0.2', forged), { trustProxy: 1 });
    assert.deepEqual([info.ip, info.secure, info.host], ['203.0.113.7', true, 'app.example']);
  });

  it('a trusted list: only listed proxies are believed', () => {
    assert.equal(upgradeInfoOf(upgrade('10.0.0.2', forged), { trustProxy: ['10.0.0.0/8'] }).ip, '203.0.113.7');
    const untrusted = upgradeInfoOf(upgrade('192.0.2.9', forged), { trustProxy: '10.0.0.0/8, loopback' });
    assert.deepEqual([untrusted.ip, untrusted.secure, untrusted.host], ['192.0.2.9', false, 'internal:3000']);
  });
});

for (const platform of PLATFORMS) {
  describe(`KeycardWsAdapter message limits on ${platform}`, () => {
    let running: RunningApp;
    let cookie: string;
    /** `socketClosed` reasons, as metrics count them. */
    const reasons: string[] = [];

    before(async () => {
      running = await startApp(platform, wsApp(), { configure: useKeycardWs() });
      running.app.get(SessionManager).events.on('socketClosed', (event) => reasons.push(event.reason ?? ''));
      const client = running.client();
      expectStatus(await client.post('/login', { id: 'chatty' }), 201);
      cookie = client.cookieHeader() as string;
    });
    after(() => running.close());

    it('a message over 16 KiB closes the socket with 1009; one of 16 KiB is answered', async () => {
      const socket = await connect(running.url, '/ws', { cookie });
      const padding = 'x'.repeat(16 * 1024 - JSON.stringify({ type: 'whoami', pad: '' }).length);
      const answer = (await socket.ask({ type: 'whoami', pad: padding })) as { user: { id: string } };
      assert.equal(answer.user.id, 'chatty');
      reasons.length = 0;
      socket.send({ type: 'whoami', pad: `${padding}x` });
      assert.equal((await socket.waitForClose()).code, WS_CLOSE_TOO_BIG);
      await within(1000, async () => reasons.length > 0, 'the socketClosed event');
      assert.deepEqual(reasons, ['message-too-big']);
    });

    it('more than 20 messages in a second close the socket with 1008, and the extra ones are not handled', async () => {
      const socket = await connect(running.url, '/ws', { cookie });
      const log = running.app.get(ConnectionLog);
      const handledBefore = log.whoamis;
      reasons.length = 0;
      for (let i = 0; i < 25; i++) socket.send({ type: 'whoami' });
      const closed = await socket.waitForClose();
      assert.equal(closed.code, WS_CLOSE_POLICY);
      assert.equal(closed.reason, 'message rate exceeded');
      assert.ok(log.whoamis - handledBefore <= 20, `handled ${log.whoamis - handledBefore} messages`);
      // Counted as the rate limit, not as whatever code the client echoed.
      await within(1000, async () => reasons.length > 0, 'the socketClosed event');
      assert.deepEqual(reasons, ['rate-limited']);
    });
  });
}
