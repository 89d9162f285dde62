import 'reflect-metadata';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PASSWORD, registerAccount } from './support/accounts.js';
import { Client } from './support/http-client.js';
import { REDIS_URL, serviceSkipReason } from './support/services.js';
import { TcpProxy } from './support/tcp-proxy.js';
import { startTestApp, uniqueIp, type TestApp } from './support/test-app.js';

/**
 * GET /metrics (METRICS=1) after a scripted sequence — sign in, read, sign
 * out, a CSRF refusal, a wrong password, a store outage — checking that each
 * counter moved by exactly the expected amount, and that no label value is an
 * id, a token, an e-mail or an address. Sessions live in Redis behind a relay
 * the test cuts for the outage.
 */

const skip = await serviceSkipReason('Redis', REDIS_URL, 6379);

type Series = Map<string, number>;

/** Prometheus text → "name{label="v",…}" → value (labels sorted, so keys are stable). */
function parse(text: string): Series {
  const out: Series = new Map();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(match, `not a Prometheus sample line: ${line}`);
    const labels = (match[2] ?? '').split(/,(?=[a-z_]+=")/).filter(Boolean).sort().join(',');
    out.set(`${match[1]}{${labels}}`, Number(match[3]));
  }
  return out;
}

const key = (name: string, labels: Record<string, string> = {}): string =>
  `${name}{${Object.entries(labels).map(([k, v]) => `${k}="${v}"`).sort().join(',')}}`;

/** What moved between two scrapes, ignoring histogram buckets/sums, scrape pings and series that did not change. */
function moved(before: Series, after: Series): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [series, value] of after) {
    if (/_bucket\{|_sum\{|operation="ping"|^keycard_store_up/.test(series)) continue;
    const delta = value - (before.get(series) ?? 0);
    if (delta !== 0) out[series] = delta;
  }
  return out;
}

const HIT = key('keycard_session_cache_lookups_total', { result: 'hit' });
const MISS = key('keycard_session_cache_lookups_total', { result: 'miss' });
const FIND = key('keycard_store_call_duration_seconds_count', { operation: 'find', outcome: 'ok' });

/**
 * A read that finds the session cache bypassed — its Redis feed's heartbeat
 * late, as happens on a loaded machine (docs/session-cache.md: no cached
 * answer then) — is a miss and a store find instead of a hit. Both are right;
 * each such miss is folded back into the hit it replaced, so that a step still
 * counts every lookup exactly and any other difference still fails it.
 */
function foldBypassedHits(what: Record<string, number>, expected: Record<string, number>): Record<string, number> {
  const bypassed = Math.min(
    (what[MISS] ?? 0) - (expected[MISS] ?? 0),
    (what[FIND] ?? 0) - (expected[FIND] ?? 0),
    (expected[HIT] ?? 0) - (what[HIT] ?? 0),
  );
  if (bypassed <= 0) return what;
  const out: Record<string, number> = { ...what, [HIT]: (what[HIT] ?? 0) + bypassed, [MISS]: (what[MISS] ?? 0) - bypassed, [FIND]: (what[FIND] ?? 0) - bypassed };
  for (const series of [MISS, FIND]) if (out[series] === 0) delete out[series];
  return out;
}

describe('GET /metrics after a scripted sequence', { skip }, () => {
  let app: TestApp;
  let proxy: TcpProxy;

  before(async () => {
    const redis = new URL(REDIS_URL);
    proxy = await new TcpProxy(redis.hostname, Number(redis.port || 6379)).start();
    app = await startTestApp('express', { REDIS_URL: `redis://127.0.0.1:${proxy.port}`, METRICS: '1' });
  });
  after(async () => {
    await app?.close();
    await proxy?.close();
  });

  const scrape = async (): Promise<{ series: Series; text: string }> => {
    const reply = await new Client(app.url).get('/metrics', { headers: { accept: 'text/plain' } });
    assert.equal(reply.status, 200, reply.text);
    assert.match(reply.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    return { series: parse(reply.text), text: reply.text };
  };

  it('each step moves exactly its counters, and no label holds an id, token, e-mail or IP', async () => {
    const account = await registerAccount(app.url);
    const ip = uniqueIp();
    const device = new Client(app.url, 'metrics-test-device', ip);
    const secrets: string[] = [account.email, account.id, ip];
    let last = (await scrape()).series;
    let realHits = 0; // the fold must not let a cache that never answers pass
    const step = async (what: string, expected: Record<string, number>): Promise<void> => {
      const { series, text } = await scrape();
      const raw = moved(last, series);
      realHits += raw[HIT] ?? 0;
      assert.deepEqual(foldBypassedHits(raw, expected), expected, `${what}: what moved`);
      for (const value of text.matchAll(/="([^"]*)"/g)) {
        for (const secret of [...secrets, ...device.cookies.values()]) {
          assert.ok(!value[1]?.includes(secret), `${what}: a label holds ${value[1]}`);
        }
        assert.doesNotMatch(value[1] ?? '', /@|\b\d{1,3}(\.\d{1,3}){3}\b/, `${what}: a label looks like an e-mail or address`);
      }
      last = series;
    };

    // Sign in: the CSRF token request reads no session (none yet), the sign-in creates one.
    const login = await device.post('/api/auth/login', { json: { email: account.email, password: PASSWORD } });
    assert.equal(login.status, 200, login.text);
    secrets.push(...device.cookies.values());
    const sessions = await device.get('/api/auth/sessions');
    secrets.push(...(sessions.json.sessions as { id: string }[]).map((entry) => entry.id));
    await step('sign-in', {
      [key('keycard_session_events_total', { event: 'created', reason: 'none' })]: 1,
      [key('keycard_session_events_total', { event: 'signed_in', reason: 'none' })]: 1,
      [key('keycard_sign_ins_total', { outcome: 'succeeded' })]: 1,
      [key('keycard_store_call_duration_seconds_count', { operation: 'listByUser', outcome: 'ok' })]: 2,
      [key('keycard_store_call_duration_seconds_count', { operation: 'create', outcome: 'ok' })]: 1,
      // GET /api/auth/sessions reads the new session: from the session cache (on by default on
      // Redis), which holds what the sign-in created; a hit is not a store call.
      [key('keycard_session_cache_lookups_total', { result: 'hit' })]: 1,
    });

    // Read: served by the session cache, no store call, no event.
    assert.equal((await device.get('/api/auth/me')).status, 200);
    await step('read', { [key('keycard_session_cache_lookups_total', { result: 'hit' })]: 1 });

    // A CSRF refusal: an unsafe cookie request without the token.
    const forged = await device.post('/api/auth/logout', { csrf: false });
    assert.equal(forged.status, 403, forged.text);
    await step('CSRF refusal', {
      [key('keycard_csrf_refusals_total', { code: 'KEYCARD_CSRF_MISSING' })]: 1,
      [key('keycard_session_cache_lookups_total', { result: 'hit' })]: 1,
    });

    // Sign out: the token request and the sign-out each read the session once (from the cache), then it is destroyed.
    assert.equal((await device.post('/api/auth/logout')).status, 204);
    await step('sign-out', {
      [key('keycard_session_events_total', { event: 'signed_out', reason: 'none' })]: 1,
      [key('keycard_session_cache_lookups_total', { result: 'hit' })]: 2,
      [key('keycard_store_call_duration_seconds_count', { operation: 'destroy', outcome: 'ok' })]: 1,
    });

    // A wrong password: a failed sign-in, counted without the account.
    const wrong = await new Client(app.url, 'metrics-test', uniqueIp()).post('/api/auth/login', { json: { email: account.email, password: 'not the password' } });
    assert.equal(wrong.status, 401, wrong.text);
    await step('wrong password', { [key('keycard_sign_ins_total', { outcome: 'failed' })]: 1 });

    // Store outage: a signed-in read answers 503, the store call is counted as unavailable, store_up drops to 0.
    await proxy.cut();
    try {
      const down = await account.client.get('/api/auth/me');
      assert.equal(down.status, 503, down.text);
      const { series } = await scrape();
      assert.equal(series.get(key('keycard_store_up')), 0);
      // The cut closed the cache's subscription too: the cache is flushed and the read goes to Redis.
      await step('store outage', {
        [key('keycard_session_cache_lookups_total', { result: 'miss' })]: 1,
        [key('keycard_store_call_duration_seconds_count', { operation: 'find', outcome: 'unavailable' })]: 1,
      });
    } finally {
      await proxy.restore();
    }
    assert.ok(realHits > 0, 'the session cache answered none of the reads');
    const deadline = Date.now() + 10_000;
    while ((await scrape()).series.get(key('keycard_store_up')) !== 1) {
      assert.ok(Date.now() < deadline, 'store_up back to 1 after the store returned');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  });

  it('is not served without METRICS=1', async () => {
    const plain = await startTestApp('fastify', { REDIS_URL: `redis://127.0.0.1:${proxy.port}` });
    try {
      assert.equal((await new Client(plain.url).get('/metrics')).status, 404);
    } finally {
      await plain.close();
    }
  });
});
