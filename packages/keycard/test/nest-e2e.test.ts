import 'reflect-metadata';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Injectable, Module } from '@nestjs/common';
import fc from 'fast-check';
import { InvalidOptionsError, TokenSigner, sessionIdOf } from '../src/index.js';
import { SessionModule } from '../src/nest/index.js';
import { manualClock, type ManualClock } from './support/clock.js';
import { Gates } from './support/gate.js';
import {
  PLATFORMS,
  expectCookie,
  expectHeader,
  expectKeycardError,
  expectNoSetCookie,
  expectStatus,
  request,
  startApp,
  Client,
  type HttpResult,
  type Platform,
  type RunningApp,
} from './support/http.js';
import { SECRET, SessionTestController, sessionApp } from './support/session-app.js';
import { CountingStore, DownStore } from './support/stores.js';

const MINUTE = 60_000;
const IDLE = 30 * MINUTE;
const ABSOLUTE = 120 * MINUTE;
const TOUCH = MINUTE;

/** The app most scenarios share: a counting MemoryStore and a clock the test moves. */
interface Fixture {
  readonly running: RunningApp;
  readonly store: CountingStore;
  readonly clock: ManualClock;
  readonly gates: Gates;
}

async function fixture(platform: Platform): Promise<Fixture> {
  const clock = manualClock();
  const store = new CountingStore(clock);
  const gates = new Gates();
  const running = await startApp(
    platform,
    sessionApp({ store, clock, idleTimeout: IDLE / 1000, absoluteTimeout: ABSOLUTE / 1000, touchInterval: TOUCH / 1000 }, gates),
  );
  return { running, store, clock, gates };
}

async function signIn(client: Client, id: string, extra: Record<string, unknown> = {}): Promise<HttpResult> {
  const result = await client.post('/login', { id, ...extra });
  expectStatus(result, 201);
  return result;
}

/** The store id behind a signed cookie value, to look the record up directly. */
function storeIdOf(signed: string): string {
  return sessionIdOf(signed.slice(0, signed.indexOf('.')));
}

function expectSignedOut(result: HttpResult): void {
  expectKeycardError(result, 401, 'KEYCARD_UNAUTHENTICATED');
}

for (const platform of PLATFORMS) {
  describe(`keycard/nest on ${platform}`, () => {
    let f: Fixture;
    before(async () => {
      f = await fixture(platform);
    });
    after(async () => {
      f.gates.openAll();
      await f.running.close();
    });

    describe('when a request is anonymous', () => {
      it('sets no cookie and makes no store call, even on a public route that reads the session', async () => {
        const finds = f.store.finds;
        const result = await f.running.client().get('/public/read');
        expectStatus(result, 200);
        assert.deepEqual(result.body, { user: null, note: null });
        expectNoSetCookie(result);
        expectHeader(result, 'cache-control', null);
        assert.equal(f.store.finds, finds);
      });

      it('gets 401 with a stable code on a protected route, and no cookie', async () => {
        const result = await f.running.client().get('/me');
        expectSignedOut(result);
        expectNoSetCookie(result);
      });

      it('finds the same session through sessionOf on the platform request and on the raw IncomingMessage', async () => {
        const result = await f.running.client().get('/public/accessor');
        expectStatus(result, 200);
        assert.deepEqual(result.body, { platform: true, raw: true });
      });

      it('creates a session at its first write, and only then sets a cookie', async () => {
        const client = f.running.client();
        const creates = f.store.creates;
        const written = await client.post('/note', { note: 'hello' });
        expectStatus(written, 201);
        expectCookie(written, 'sid', { httpOnly: true, persistent: false });
        assert.equal(f.store.creates, creates + 1);
        assert.deepEqual((await client.get('/public/read')).body, { user: null, note: 'hello' });
      });
    });

    describe('when signing in', () => {
      it('sets sid over http with cookie.secure auto: HttpOnly, SameSite=Lax, Path=/, no Max-Age, Cache-Control no-store', async () => {
        const client = f.running.client();
        const result = await signIn(client, 'alice');
        expectCookie(result, 'sid', { httpOnly: true, secure: false, sameSite: 'Lax', path: '/', persistent: false });
        expectHeader(result, 'cache-control', 'no-store');
        const me = await client.get('/me');
        expectStatus(me, 200);
        assert.deepEqual(me.body, { user: { id: 'alice', roles: ['user'], authVersion: 1 } });
        expectNoSetCookie(me);
      });

      it('ignores X-Forwarded-Proto when no proxy is trusted', async () => {
        const result = await f.running.client().post('/login', { id: 'spoofer' }, { 'x-forwarded-proto': 'https' });
        expectStatus(result, 201);
        expectCookie(result, 'sid', { secure: false });
      });

      it('gives remember-me a persistent cookie whose Max-Age is the remember absolute timeout', async () => {
        const result = await signIn(f.running.client(), 'remy', { remember: true });
        expectCookie(result, 'sid', { httpOnly: true, persistent: true, maxAge: 2_592_000 });
      });

      it('does not keep a cookie planted before sign-in (fixation)', async () => {
        const victim = f.running.client();
        expectStatus(await victim.post('/note', { note: 'planted' }), 201);
        const planted = victim.cookie('sid');
        assert.ok(planted);
        const attacker = victim.fork();
        const result = await signIn(victim, 'victim');
        const issued = expectCookie(result, 'sid', { httpOnly: true });
        assert.notEqual(issued.value, planted);
        assert.equal(await f.store.peek(storeIdOf(planted)), null, 'the planted id is gone from the store');
        expectSignedOut(await attacker.get('/me'));
        assert.deepEqual((await attacker.get('/public/read')).body, { user: null, note: null });
        expectStatus(await victim.get('/me'), 200);
      });

      it('is saved before a @Redirect() response is sent', async () => {
        const client = f.running.client();
        const result = await client.post('/login-redirect', { id: 'redirected' });
        expectStatus(result, 303);
        expectHeader(result, 'location', '/me');
        expectCookie(result, 'sid', { httpOnly: true });
        expectStatus(await client.get('/me'), 200);
      });

      it('is saved by SessionService.commit in a handler that sends the response itself (@Res())', async () => {
        const client = f.running.client();
        const result = await client.post('/login-manual', { id: 'manual' });
        expectStatus(result, 200);
        expectCookie(result, 'sid', { httpOnly: true });
        expectStatus(await client.get('/me'), 200);
      });

      it('keeps a cookie the application sets on the same response', async () => {
        const result = await f.running.client().post('/login-with-theme', { id: 'themed' });
        expectStatus(result, 201);
        expectCookie(result, 'theme');
        expectCookie(result, 'sid', { httpOnly: true });
      });

      it('marks the current session in the list of the user’s sessions', async () => {
        const phone = f.running.client();
        const laptop = f.running.client();
        await signIn(phone, 'lister');
        await signIn(laptop, 'lister');
        const result = await laptop.get('/sessions');
        expectStatus(result, 200);
        const sessions = (result.body as { sessions: { current: boolean; handle: string }[] }).sessions;
        assert.equal(sessions.length, 2);
        assert.deepEqual(
          sessions.map((s) => s.current),
          [false, true],
        );
        assert.doesNotMatch(result.text, new RegExp(laptop.cookie('sid')!.slice(0, 20)), 'no token in the list');
        const listed = (result.body as { sessions: { ip: string; userAgent: string }[] }).sessions[1]!;
        assert.match(listed.ip, /127\.0\.0\.1$/);
        assert.equal(listed.userAgent, 'node');
      });

      it('revokes one session by its handle, and refuses a handle that is not the user’s', async () => {
        const phone = f.running.client();
        const laptop = f.running.client();
        await signIn(phone, 'revoker');
        await signIn(laptop, 'revoker');
        const { sessions } = (await laptop.get('/sessions')).body as { sessions: { handle: string; current: boolean }[] };
        const other = sessions.find((s) => !s.current)!;
        expectStatus(await laptop.post(`/sessions/${encodeURIComponent(other.handle)}/revoke`), 204);
        expectSignedOut(await phone.get('/me'));
        expectStatus(await laptop.get('/me'), 200);
        const stranger = f.running.client();
        await signIn(stranger, 'stranger');
        const mine = ((await laptop.get('/sessions')).body as { sessions: { handle: string }[] }).sessions[0]!;
        expectStatus(await stranger.post(`/sessions/${encodeURIComponent(mine.handle)}/revoke`), 404);
        expectStatus(await laptop.get('/me'), 200);
      });

      it('signs the user out everywhere else, keeping the current session', async () => {
        const devices = [f.running.client(), f.running.client(), f.running.client()];
        for (const device of devices) await signIn(device, 'everywhere');
        const [current, ...others] = devices as [Client, ...Client[]];
        expectStatus(await current.post('/revoke-others'), 204);
        for (const other of others) expectSignedOut(await other.get('/me'));
        expectStatus(await current.get('/me'), 200);
      });
    });

    describe('when signing out', () => {
      it('destroys the record, clears the cookie and sends Clear-Site-Data', async () => {
        const client = f.running.client();
        await signIn(client, 'leaver');
        const old = client.cookie('sid')!;
        const stolen = client.fork();
        const result = await client.post('/logout');
        expectStatus(result, 204);
        expectCookie(result, 'sid', { cleared: true, httpOnly: true });
        expectHeader(result, 'clear-site-data', '"cookies"');
        expectHeader(result, 'cache-control', 'no-store');
        assert.equal(await f.store.peek(storeIdOf(old)), null);
        expectSignedOut(await stolen.get('/me'));
      });

      it('still clears the cookie when the handler throws after signing out', async () => {
        const client = f.running.client();
        await signIn(client, 'thrower');
        const stolen = client.fork();
        const result = await client.post('/logout-then-fail');
        expectStatus(result, 400);
        assert.equal((result.body as { message: string }).message, 'signed out, then failed');
        expectCookie(result, 'sid', { cleared: true });
        expectHeader(result, 'clear-site-data', '"cookies"');
        expectSignedOut(await stolen.get('/me'));
      });
    });

    describe('when the cookie is not one the server issued', () => {
      it('treats tampered, garbage, oversized, non-ASCII and repeated cookies as anonymous, with no store lookup (1000 cases)', async () => {
        const client = f.running.client();
        await signIn(client, 'fuzz-target');
        const genuine = client.cookie('sid')!;
        const foreign = new TokenSigner(['another-secret-that-is-32-chars-long!']);
        const b64 = [...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'];
        const otherChar = (c: string, pick: number): string => {
          const choices = b64.filter((x) => x !== c);
          return choices[pick % choices.length]!;
        };
        const replaceAt = (s: string, i: number, pick: number): string => s.slice(0, i) + otherChar(s[i]!, pick) + s.slice(i + 1);
        // Header bytes as a client would send them: UTF-8, shown to fetch as latin1, no control characters.
        const printable = (c: string): boolean => c.charCodeAt(0) > 0x1f && c !== '\x7f';
        const wire = (s: string): string => [...Buffer.from(s, 'utf8').toString('latin1')].filter(printable).join('');
        const value = fc.oneof(
          fc.tuple(fc.integer({ min: 44, max: 86 }), fc.nat()).map(([i, pick]) => replaceAt(genuine, i, pick)),
          fc.tuple(fc.integer({ min: 0, max: 42 }), fc.nat()).map(([i, pick]) => replaceAt(genuine, i, pick)),
          fc.integer({ min: 0, max: genuine.length - 1 }).map((n) => genuine.slice(0, n)),
          fc.integer({ min: 0, max: genuine.length }).map((i) => `${genuine.slice(0, i)}.${genuine.slice(i)}`),
          fc.constant(`${genuine}.`),
          fc.constant(`"${genuine}"`),
          fc.uint8Array({ minLength: 32, maxLength: 32 }).map((bytes) => foreign.sign(Buffer.from(bytes).toString('base64url'))),
          fc.string({ unit: 'grapheme', maxLength: 60 }).map(wire),
          fc.string({ unit: 'binary', maxLength: 100 }).map(wire),
          // ~10 KB (bytes), under Node's 16 KB header limit so that the app, not the HTTP parser, answers.
          fc.tuple(fc.constantFrom('a', 'Z', '9', '-', 'é'), fc.integer({ min: 9_000, max: 11_000 })).map(([c, n]) => wire(c.repeat(n)).slice(0, n)),
          fc.constant(genuine + 'A'),
        );
        const header = fc.oneof(
          value.map((v) => `sid=${v}`),
          fc.tuple(value, fc.string({ unit: 'grapheme-ascii', maxLength: 20 })).map(([v, junk]) => `theme=${wire(junk.replace(/[;=]/g, ''))}; sid=${v}; lang=en`),
          value.map((v) => `sid=${genuine}; sid=${v}`),
          value.map((v) => `sid=${v}; sid=${genuine}`),
          fc.constant(`sid=${genuine}; sid=${genuine}`),
          fc.constant(`__Host-sid=${genuine}`),
          fc.constant(`SID=${genuine}`),
          fc.string({ unit: 'grapheme', maxLength: 30 }).map((name) => wire(`${name.replace(/[;=\s]/g, '')}x=${genuine}`)),
          fc.string({ unit: 'binary', maxLength: 200 }).map(wire),
        );
        const finds = f.store.finds;
        await fc.assert(
          fc.asyncProperty(header, async (cookie) => {
            // `sid=<genuine>` alone is the one valid cookie; the generators never produce it bare.
            fc.pre(cookie.trim() !== `sid=${genuine}`);
            const protectedResult = await request(`${f.running.url}/me`, { headers: { cookie } });
            expectSignedOut(protectedResult);
            expectNoSetCookie(protectedResult);
            const publicResult = await request(`${f.running.url}/public/read`, { headers: { cookie } });
            expectStatus(publicResult, 200);
            assert.deepEqual(publicResult.body, { user: null, note: null });
            expectNoSetCookie(publicResult);
          }),
          { numRuns: 1000 },
        );
        assert.equal(f.store.finds, finds, 'no store lookup for a cookie that does not verify');
        expectStatus(await client.get('/me'), 200);
      });
    });

    describe('when time passes', () => {
      it('signs out after the idle timeout', async () => {
        const client = f.running.client();
        await signIn(client, 'idler');
        f.clock.advance(IDLE + 1);
        expectSignedOut(await client.get('/me'));
      });

      it('keeps a session alive past its first idle expiry while it is used (touch)', async () => {
        const client = f.running.client();
        await signIn(client, 'active');
        for (let elapsed = 0; elapsed < 2 * IDLE; elapsed += IDLE / 2) {
          f.clock.advance(IDLE / 2);
          expectStatus(await client.get('/me'), 200);
        }
      });

      it('signs out after the absolute timeout, even with steady activity', async () => {
        const client = f.running.client();
        await signIn(client, 'marathon');
        let elapsed = 0;
        while (elapsed + IDLE / 2 < ABSOLUTE) {
          f.clock.advance(IDLE / 2);
          elapsed += IDLE / 2;
          expectStatus(await client.get('/me'), 200);
        }
        f.clock.advance(ABSOLUTE - elapsed + 1);
        expectSignedOut(await client.get('/me'));
      });

      it('refuses a sensitive action once the sign-in is older than @RequireFreshAuth allows', async () => {
        const client = f.running.client();
        await signIn(client, 'careful');
        expectStatus(await client.get('/fresh'), 200);
        f.clock.advance(61_000);
        expectKeycardError(await client.get('/fresh'), 403, 'KEYCARD_REAUTHENTICATE');
        await signIn(client, 'careful');
        expectStatus(await client.get('/fresh'), 200);
      });
    });

    describe('when reads come within the touch interval', () => {
      it('writes nothing to the store, then touches once when the interval has passed', async () => {
        const client = f.running.client();
        await signIn(client, 'reader');
        const writes = f.store.writes;
        for (let i = 0; i < 20; i++) {
          f.clock.advance(TOUCH / 40);
          expectStatus(await client.get('/me'), 200);
        }
        assert.equal(f.store.writes, writes, 'no write for reads inside the touch interval');
        f.clock.advance(TOUCH / 2);
        expectStatus(await client.get('/me'), 200);
        assert.equal(f.store.writes, writes + 1, 'one touch once the interval passed');
        assert.equal(f.store.touches > 0, true);
        expectStatus(await client.get('/me'), 200);
        assert.equal(f.store.writes, writes + 1);
      });
    });

    describe('when the session is regenerated', () => {
      for (const keep of [true, false]) {
        it(`${keep ? 'keeps' : 'drops'} the data as asked, and the old id is dead at once`, async () => {
          const client = f.running.client();
          await client.post('/note', { note: 'kept?' });
          await signIn(client, `rotator-${keep}`);
          const old = client.fork();
          const result = await client.post(`/rotate?keep=${keep}`);
          expectStatus(result, 201);
          const issued = expectCookie(result, 'sid', { httpOnly: true });
          assert.notEqual(issued.value, old.cookie('sid'));
          assert.deepEqual((await client.get('/data')).body, keep ? { note: 'kept?' } : {});
          expectSignedOut(await old.get('/me'));
          assert.deepEqual((await old.get('/public/read')).body, { user: null, note: null });
        });
      }
    });

    describe('when requests overlap', () => {
      it('does not bring a session back when a write finishes after sign-out', async () => {
        const client = f.running.client();
        await signIn(client, 'racer');
        const signed = client.cookie('sid')!;
        const slow = client.fork();
        const gate = f.gates.get(`${platform}-resurrect`);
        const pending = slow.post(`/gated/${platform}-resurrect`, { key: 'late', value: 'write' });
        await gate.reached;
        expectStatus(await client.post('/logout'), 204);
        gate.open();
        const result = await pending;
        expectStatus(result, 201);
        assert.equal(result.setCookies.filter((c) => c.name === 'sid' && c.value !== '').length, 0, 'no Set-Cookie revives it');
        assert.equal(await f.store.peek(storeIdOf(signed)), null, 'the store has no record');
        expectSignedOut(await slow.get('/me'));
      });

      it('keeps both writes when two requests change different keys at once', async () => {
        const client = f.running.client();
        await signIn(client, 'twotabs');
        const a = f.gates.get(`${platform}-tab-a`);
        const b = f.gates.get(`${platform}-tab-b`);
        const first = client.post(`/gated/${platform}-tab-a`, { key: 'a', value: 'from tab a' });
        const second = client.post(`/gated/${platform}-tab-b`, { key: 'b', value: 'from tab b' });
        await Promise.all([a.reached, b.reached]);
        a.open();
        b.open();
        expectStatus(await first, 201);
        expectStatus(await second, 201);
        assert.deepEqual((await client.get('/data')).body, { a: 'from tab a', b: 'from tab b' });
      });
    });

    describe('when the store fails while the response is being saved', () => {
      it('answers 503 instead of the handler’s success, for a returned value and for a redirect', async () => {
        const client = f.running.client();
        await signIn(client, 'unlucky');
        f.store.failWrites = true;
        try {
          const written = await client.post('/note', { note: 'lost' });
          expectKeycardError(written, 503, 'KEYCARD_STORE_UNAVAILABLE');
          expectNoSetCookie(written);
          const redirected = await f.running.client().post('/login-redirect', { id: 'unlucky-too' });
          expectKeycardError(redirected, 503, 'KEYCARD_STORE_UNAVAILABLE');
          expectHeader(redirected, 'location', null);
          expectNoSetCookie(redirected);
        } finally {
          f.store.failWrites = false;
        }
        expectStatus(await client.get('/me'), 200);
      });
    });

    describe('when a client uses a bearer token', () => {
      it('reaches protected routes with Authorization: Bearer, gets no cookie, and is locked out once revoked', async () => {
        const issued = await f.running.client().post('/token', { id: 'cli-user' });
        expectStatus(issued, 201);
        expectNoSetCookie(issued);
        const { token } = issued.body as { token: string };
        const bearer = { authorization: `Bearer ${token}` };
        const me = await request(`${f.running.url}/me`, { headers: bearer });
        expectStatus(me, 200);
        assert.equal((me.body as { user: { id: string } }).user.id, 'cli-user');
        expectNoSetCookie(me);
        const written = await request(`${f.running.url}/note`, { method: 'POST', json: { note: 'x' }, headers: bearer });
        expectStatus(written, 201);
        expectNoSetCookie(written);
        expectStatus(await request(`${f.running.url}/revoke-all`, { method: 'POST', headers: bearer }), 204);
        expectSignedOut(await request(`${f.running.url}/me`, { headers: bearer }));
      });
    });

    describe('when roles are required', () => {
      it('answers 403 without the role and 200 with it', async () => {
        const user = f.running.client();
        await signIn(user, 'plain');
        expectKeycardError(await user.get('/admin'), 403, 'KEYCARD_FORBIDDEN_ROLE');
        const admin = f.running.client();
        await signIn(admin, 'boss', { roles: ['admin'] });
        expectStatus(await admin.get('/admin'), 200);
        expectSignedOut(await f.running.client().get('/admin'));
      });

      it('applies roles changed elsewhere at the next request, with a new id even when that request is refused', async () => {
        const client = f.running.client();
        await signIn(client, 'demoted', { roles: ['admin'] });
        expectStatus(await client.get('/admin'), 200);
        const old = client.fork();
        const refreshed = await client.post('/refresh-principal', { id: 'demoted', roles: ['user'] });
        assert.deepEqual(refreshed.body, { changed: 1 });
        const refused = await client.get('/admin');
        expectKeycardError(refused, 403, 'KEYCARD_FORBIDDEN_ROLE');
        expectCookie(refused, 'sid', { httpOnly: true });
        const me = await client.get('/me');
        expectStatus(me, 200);
        assert.deepEqual((me.body as { user: { roles: string[] } }).user.roles, ['user']);
        expectSignedOut(await old.get('/me'));
      });
    });
  });

  describe(`keycard/nest options on ${platform}`, () => {
    describe('when cookie.secure is true', () => {
      let running: RunningApp;
      before(async () => {
        running = await startApp(platform, sessionApp({ cookie: { secure: true } }));
      });
      after(() => running.close());

      it('names the cookie __Host-sid and marks it Secure, even over http', async () => {
        const client = running.client();
        const result = await signIn(client, 'secure');
        expectCookie(result, '__Host-sid', { httpOnly: true, secure: true, sameSite: 'Lax', path: '/' });
        assert.equal(result.setCookies.length, 1);
        expectStatus(await client.get('/me'), 200);
      });
    });

    describe('when a trusted proxy says the request came over https', () => {
      let running: RunningApp;
      before(async () => {
        running = await startApp(platform, sessionApp(), { trustProxy: true });
      });
      after(() => running.close());

      it('sets __Host-sid with Secure under cookie.secure auto, and reads it back', async () => {
        const client = running.client();
        const https = { 'x-forwarded-proto': 'https' };
        const result = await client.post('/login', { id: 'proxied' }, https);
        expectStatus(result, 201);
        expectCookie(result, '__Host-sid', { httpOnly: true, secure: true });
        expectStatus(await client.get('/me', https), 200);
        // The same cookie over plain http is looked for under `sid`, so it does not count.
        expectSignedOut(await client.get('/me'));
      });

      it('records the client address the proxy forwarded', async () => {
        const client = running.client();
        const forwarded = { 'x-forwarded-for': '203.0.113.7' };
        expectStatus(await client.post('/login', { id: 'forwarded' }, forwarded), 201);
        const list = await client.get('/sessions');
        expectStatus(list, 200);
        assert.equal((list.body as { sessions: { ip: string }[] }).sessions[0]!.ip, '203.0.113.7');
      });
    });

    describe('when the signing secret is rotated', () => {
      const OLD = 'the-old-secret-that-signed-yesterday!';
      let yesterday: RunningApp;
      let today: RunningApp;
      before(async () => {
        const store = new CountingStore();
        yesterday = await startApp(platform, sessionApp({ secrets: OLD, store }));
        today = await startApp(platform, sessionApp({ secrets: [SECRET, OLD], store }));
      });
      after(async () => {
        await yesterday.close();
        await today.close();
      });

      it('accepts a cookie signed with the old secret and re-issues it under the new one, even on a refused request', async () => {
        const old = yesterday.client();
        await signIn(old, 'rotated-key', { roles: ['user'] });
        const client = new Client(today.url);
        client.setCookie('sid', old.cookie('sid')!);
        const refused = await client.get('/admin');
        expectKeycardError(refused, 403, 'KEYCARD_FORBIDDEN_ROLE');
        const reissued = expectCookie(refused, 'sid', { httpOnly: true });
        assert.equal(reissued.value.split('.')[0], old.cookie('sid')!.split('.')[0], 'same session, new signature');
        assert.notEqual(reissued.value, old.cookie('sid'));
        const me = await client.get('/me');
        expectStatus(me, 200);
        expectNoSetCookie(me);
      });

      it('re-issues it exactly once on a request that succeeds', async () => {
        const old = yesterday.client();
        await signIn(old, 'rotated-key-2');
        const client = new Client(today.url);
        client.setCookie('sid', old.cookie('sid')!);
        const me = await client.get('/me');
        expectStatus(me, 200);
        assert.notEqual(expectCookie(me, 'sid', { httpOnly: true }).value, old.cookie('sid'));
        expectHeader(me, 'cache-control', 'no-store');
      });
    });

    describe('when bearer is off', () => {
      let running: RunningApp;
      before(async () => {
        running = await startApp(platform, sessionApp({ bearer: false }));
      });
      after(() => running.close());

      it('ignores Authorization: Bearer', async () => {
        const { token } = (await running.client().post('/token', { id: 'cli' })).body as { token: string };
        expectSignedOut(await request(`${running.url}/me`, { headers: { authorization: `Bearer ${token}` } }));
      });
    });

    describe('when a user may hold only one session and further sign-ins are refused', () => {
      let running: RunningApp;
      before(async () => {
        running = await startApp(platform, sessionApp({ maxSessionsPerUser: 1, sessionLimitMode: 'refuse' }));
      });
      after(() => running.close());

      it('answers 409 KEYCARD_SESSION_LIMIT and sets no cookie', async () => {
        await signIn(running.client(), 'single');
        const result = await running.client().post('/login', { id: 'single' });
        expectKeycardError(result, 409, 'KEYCARD_SESSION_LIMIT');
        expectNoSetCookie(result);
      });
    });

    for (const mode of ['reject', 'hang'] as const) {
      describe(`when the store is down (calls ${mode === 'reject' ? 'fail' : 'never answer'})`, () => {
        const storeTimeout = 150;
        let running: RunningApp;
        let store: DownStore;
        const genuine = new TokenSigner([SECRET]).sign('A'.repeat(43));
        before(async () => {
          store = new DownStore(mode);
          running = await startApp(platform, sessionApp({ store, storeTimeout }));
        });
        after(() => running.close());

        it('answers 503 on a protected route within the deadline, with no detail of the failure', async () => {
          const started = performance.now();
          const result = await request(`${running.url}/me`, { headers: { cookie: `sid=${genuine}` } });
          const elapsed = performance.now() - started;
          expectKeycardError(result, 503, 'KEYCARD_STORE_UNAVAILABLE');
          assert.doesNotMatch(result.text, /ECONNREFUSED|6379|did not answer/);
          assert.doesNotMatch(result.text, new RegExp(genuine.slice(0, 20)));
          assert.ok(elapsed < storeTimeout + 1000, `answered in ${elapsed.toFixed(0)} ms`);
          expectNoSetCookie(result);
        });

        it('answers 503 when a public route reads the session, and 200 when it does not', async () => {
          const cookie = `sid=${genuine}`;
          expectKeycardError(await request(`${running.url}/public/read`, { headers: { cookie } }), 503, 'KEYCARD_STORE_UNAVAILABLE');
          expectStatus(await request(`${running.url}/public/ping`, { headers: { cookie } }), 200);
        });

        it('still serves anonymous requests without touching the store', async () => {
          const calls = store.calls;
          expectStatus(await request(`${running.url}/public/read`), 200);
          expectSignedOut(await request(`${running.url}/me`));
          assert.equal(store.calls, calls);
        });
      });
    }

    describe('when the options are invalid', () => {
      const cases: { name: string; options: Record<string, unknown>; message: string }[] = [
        {
          name: 'no secret',
          options: { secrets: undefined },
          message:
            'keycard: secrets is required: give at least one random string of 32 or more characters (e.g. `openssl rand -base64 32`)',
        },
        {
          name: 'a short secret',
          options: { secrets: 'too-short' },
          message: 'keycard: secrets[0] is 9 characters; each secret needs at least 32 random characters',
        },
        {
          name: 'an idle timeout longer than the absolute timeout',
          options: { idleTimeout: 7200, absoluteTimeout: 3600 },
          message: 'keycard: idleTimeout (7200s) is longer than absoluteTimeout (3600s); the idle limit could never apply',
        },
        {
          name: 'an unknown guard mode',
          options: { guard: 'everywhere' },
          message: `keycard: guard must be 'global' or 'none', got "everywhere"`,
        },
      ];
      for (const { name, options, message } of cases) {
        it(`fails the bootstrap with a clear message for ${name} (forRoot)`, async () => {
          await assert.rejects(startApp(platform, sessionApp(options)), (error: unknown) => {
            assert.ok(error instanceof InvalidOptionsError, `got ${String(error)}`);
            assert.equal(error.message, message);
            return true;
          });
        });
      }

      it('fails the bootstrap the same way through forRootAsync', async () => {
        const root = {
          imports: [
            SessionModule.forRootAsync({ useFactory: () => ({ secrets: SECRET, idleTimeout: 7200, absoluteTimeout: 3600 }) }),
          ],
          controllers: [SessionTestController],
          providers: [{ provide: Gates, useValue: new Gates() }],
        };
        await assert.rejects(startApp(platform, root), {
          name: 'InvalidOptionsError',
          message: 'keycard: idleTimeout (7200s) is longer than absoluteTimeout (3600s); the idle limit could never apply',
        });
      });
    });

    describe('when options come from another module (forRootAsync with imports and inject)', () => {
      @Injectable()
      class ConfigService {
        readonly secret = SECRET;
      }
      @Module({ providers: [ConfigService], exports: [ConfigService] })
      class ConfigModule {}

      let running: RunningApp;
      before(async () => {
        running = await startApp(platform, {
          imports: [
            SessionModule.forRootAsync({
              imports: [ConfigModule],
              inject: [ConfigService],
              useFactory: (config: ConfigService) => ({ secrets: config.secret, cookie: { secure: true }, csrf: false }),
            }),
          ],
          controllers: [SessionTestController],
          providers: [{ provide: Gates, useValue: new Gates() }],
        });
      });
      after(() => running.close());

      it('uses them', async () => {
        const client = running.client();
        expectCookie(await signIn(client, 'async'), '__Host-sid', { secure: true });
        expectStatus(await client.get('/me'), 200);
      });
    });

    describe('when csrf is not configured (secure by default)', () => {
      let running: RunningApp;
      before(async () => {
        running = await startApp(platform, {
          imports: [SessionModule.forRoot({ secrets: SECRET })],
          controllers: [SessionTestController],
          providers: [{ provide: Gates, useValue: new Gates() }],
        });
      });
      after(() => running.close());

      it('refuses an unsafe request without a CSRF token', async () => {
        const client = running.client();
        expectKeycardError(await client.post('/login', { id: 'alice' }), 403, 'KEYCARD_CSRF_MISSING');
        expectStatus(await client.get('/me'), 401);
      });
    });

    describe("when guard is 'none'", () => {
      let running: RunningApp;
      before(async () => {
        running = await startApp(platform, sessionApp({ guard: 'none' }));
      });
      after(() => running.close());

      it('leaves unannotated routes open and still enforces @Roles and @RequireFreshAuth', async () => {
        const anonymous = running.client();
        const me = await anonymous.get('/me');
        expectStatus(me, 200);
        assert.deepEqual(me.body, { user: null });
        expectSignedOut(await anonymous.get('/admin'));
        expectSignedOut(await anonymous.get('/fresh'));
        const user = running.client();
        await signIn(user, 'plain');
        expectKeycardError(await user.get('/admin'), 403, 'KEYCARD_FORBIDDEN_ROLE');
        expectStatus(await user.get('/fresh'), 200);
      });
    });
  });
}
