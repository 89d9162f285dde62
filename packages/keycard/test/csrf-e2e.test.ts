import 'reflect-metadata';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Body, Controller, Delete, Get, Post, Req, UseGuards, type ModuleMetadata } from '@nestjs/common';
import { InvalidOptionsError, SessionManager, TokenSigner, type Session as KeycardSession, type SessionEvent } from '../src/index.js';
import {
  CsrfGuard,
  CsrfModule,
  CsrfNotConfiguredError,
  CsrfService,
  Public,
  Session,
  SessionModule,
  SessionService,
  SkipCsrf,
  csrfTokenFor,
  type CsrfModuleOptions,
  type RequestLike,
  type SessionModuleOptions,
} from '../src/nest/index.js';
import { Gates } from './support/gate.js';
import {
  PLATFORMS,
  expectCookie,
  expectKeycardError,
  expectStatus,
  parseSetCookie,
  type Client,
  type HttpResult,
  type RunningApp,
  startApp,
} from './support/http.js';
import { SECRET, SessionTestController } from './support/session-app.js';
import { CountingStore, DownStore } from './support/stores.js';

@Controller()
class CsrfTestController {
  constructor(
    private readonly csrf: CsrfService,
    private readonly sessions: SessionService,
  ) {}

  @Public()
  @Get('csrf')
  token(@Req() request: RequestLike): { token: string } {
    return { token: this.csrf.tokenFor(request) };
  }

  /** The free function, as a page renderer or an exception filter would call it. */
  @Public()
  @Get('csrf-free')
  tokenFree(@Req() request: RequestLike): { token: string } {
    return { token: csrfTokenFor(request) };
  }

  /** Signs in and renders "the page right after sign-in" in the same response. */
  @Public()
  @Post('login-page')
  async loginPage(@Session() session: KeycardSession, @Body() body: { id: string }, @Req() request: RequestLike) {
    await this.sessions.signIn(session, { id: body.id, roles: ['user'], authVersion: 1 });
    return { token: this.csrf.tokenFor(request) };
  }

  @Public()
  @Delete('note')
  deleteNote(@Session() session: KeycardSession): { ok: true } {
    session.delete('note');
    return { ok: true };
  }

  @Public()
  @SkipCsrf()
  @Post('webhook')
  webhook(): { ok: true } {
    return { ok: true };
  }

  /** Takes credentials in the body and sets no cookie: no token needed, but never from another site. */
  @Public()
  @SkipCsrf('token')
  @Post('credentials')
  credentials(): { ok: true } {
    return { ok: true };
  }
}

@SkipCsrf()
@Controller('skipped')
class SkippedController {
  @Public()
  @Post()
  post(): { ok: true } {
    return { ok: true };
  }
}

/** Where CSRF protection is off: what csrfTokenFor says, and what a CsrfGuard put on a route by hand does. */
@Controller('off')
class CsrfOffController {
  @Public()
  @Get('token-error')
  tokenError(@Req() request: RequestLike): { code: string; message: string } {
    try {
      csrfTokenFor(request);
    } catch (error) {
      assert.ok(error instanceof CsrfNotConfiguredError, String(error));
      return { code: error.code, message: error.message };
    }
    return assert.fail('csrfTokenFor gave a token with CSRF protection off');
  }

  @Public()
  @Get('token')
  token(@Req() request: RequestLike): { token: string } {
    return { token: csrfTokenFor(request) };
  }
}

@Controller('off')
class HandGuardedController {
  @Public()
  @UseGuards(CsrfGuard)
  @Post('guarded')
  guarded(): { ok: true } {
    return { ok: true };
  }
}

function csrfApp(
  sessionOptions: Partial<SessionModuleOptions> = {},
  csrfOptions: CsrfModuleOptions = {},
): ModuleMetadata {
  return {
    imports: [SessionModule.forRoot({ secrets: SECRET, ...sessionOptions, csrf: csrfOptions })],
    controllers: [SessionTestController, CsrfTestController, SkippedController],
    providers: [{ provide: Gates, useValue: new Gates() }],
  };
}

async function tokenOf(client: Client, path = '/csrf'): Promise<string> {
  const result = await client.get(path);
  expectStatus(result, 200);
  const token = (result.body as { token?: unknown }).token;
  assert.equal(typeof token, 'string');
  return token as string;
}

/** A client signed in as `id` through the CSRF-protected sign-in; returns the token of its session. */
async function signedIn(running: RunningApp, id: string): Promise<{ client: Client; token: string }> {
  const client = running.client();
  const login = await client.post('/login', { id }, { 'x-csrf-token': await tokenOf(client) });
  expectStatus(login, 201);
  return { client, token: await tokenOf(client) };
}

/** A urlencoded form post, as a browser without JavaScript sends it. */
async function postForm(client: Client, path: string, fields: Record<string, string>): Promise<HttpResult> {
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
  const cookie = client.cookieHeader();
  if (cookie) headers['cookie'] = cookie;
  const response = await fetch(`${client.baseUrl}${path}`, {
    method: 'POST',
    headers,
    body: new URLSearchParams(fields).toString(),
    redirect: 'manual',
  });
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // keep the text
  }
  return { status: response.status, headers: response.headers, setCookies: response.headers.getSetCookie().map(parseSetCookie), body, text };
}

function expectRefused(result: HttpResult, code: 'KEYCARD_CSRF_MISSING' | 'KEYCARD_CSRF_INVALID' | 'KEYCARD_CSRF_CROSS_SITE'): void {
  expectKeycardError(result, 403, code);
}

for (const platform of PLATFORMS) {
  describe(`CSRF on ${platform}`, () => {
    let running: RunningApp;
    let store: CountingStore;
    before(async () => {
      store = new CountingStore();
      running = await startApp(platform, csrfApp({ store }, { allowedOrigins: ['https://admin.example.com'] }));
    });
    after(() => running.close());

    describe('when nobody is signed in', () => {
      it('GET /csrf answers a token and sets the signed double-submit cookie, storing no session', async () => {
        const creates = store.creates;
        const client = running.client();
        const result = await client.get('/csrf');
        expectStatus(result, 200);
        const cookie = expectCookie(result, 'csrf', { httpOnly: true, sameSite: 'Lax', path: '/', persistent: false });
        assert.match(cookie.value, /^[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{43}$/);
        assert.equal(result.headers.get('cache-control'), 'no-store');
        assert.equal(result.setCookies.length, 1, 'no session cookie');
        assert.equal(store.creates, creates, 'no session stored');
      });

      it('reuses the cookie on later requests and gives a differently masked token each time', async () => {
        const client = running.client();
        const first = await tokenOf(client);
        const again = await client.get('/csrf-free');
        expectStatus(again, 200);
        assert.deepEqual(again.setCookies, []);
        const second = (again.body as { token: string }).token;
        assert.notEqual(first, second);
        for (const token of [first, second]) {
          expectStatus(await client.post('/note', { note: 'x' }, { 'x-csrf-token': token }), 201);
        }
      });

      it('refuses sign-in without a token', async () => {
        const client = running.client();
        await tokenOf(client);
        expectRefused(await client.post('/login', { id: 'alice' }), 'KEYCARD_CSRF_MISSING');
      });

      it('refuses sign-in with a forged token', async () => {
        const client = running.client();
        await tokenOf(client);
        expectRefused(await client.post('/login', { id: 'alice' }, { 'x-csrf-token': 'A'.repeat(86) }), 'KEYCARD_CSRF_INVALID');
      });

      it('refuses a valid token without its cookie (a token an attacker fetched for themselves)', async () => {
        const token = await tokenOf(running.client());
        expectRefused(await running.client().post('/login', { id: 'alice' }, { 'x-csrf-token': token }), 'KEYCARD_CSRF_INVALID');
      });

      it("refuses a token that matches another browser's cookie", async () => {
        const victim = running.client();
        await tokenOf(victim);
        const attackerToken = await tokenOf(running.client());
        expectRefused(await victim.post('/login', { id: 'alice' }, { 'x-csrf-token': attackerToken }), 'KEYCARD_CSRF_INVALID');
      });

      it('refuses a planted cookie the server did not sign, even with a token for its nonce', async () => {
        const client = running.client();
        const token = await tokenOf(client);
        const [nonce] = (client.cookie('csrf') as string).split('.');
        client.setCookie('csrf', `${nonce}.${'B'.repeat(43)}`);
        expectRefused(await client.post('/login', { id: 'alice' }, { 'x-csrf-token': token }), 'KEYCARD_CSRF_INVALID');
      });

      it('signs in with the token from GET /csrf and its cookie', async () => {
        const client = running.client();
        const result = await client.post('/login', { id: 'alice' }, { 'x-csrf-token': await tokenOf(client) });
        expectStatus(result, 201);
        expectCookie(result, 'sid');
      });

      it('accepts the token from the _csrf field of a urlencoded form and of a JSON body', async () => {
        const client = running.client();
        expectStatus(await postForm(client, '/login', { id: 'alice', _csrf: await tokenOf(client) }), 201);
        const other = running.client();
        expectStatus(await other.post('/login', { id: 'bob', _csrf: await tokenOf(other) }), 201);
      });
    });

    describe('when signed in', () => {
      it('refuses an unsafe request without a token, and with a wrong one', async () => {
        const { client } = await signedIn(running, 'alice');
        expectRefused(await client.post('/note', { note: 'x' }), 'KEYCARD_CSRF_MISSING');
        expectRefused(await client.post('/note', { note: 'x' }, { 'x-csrf-token': 'not-a-token' }), 'KEYCARD_CSRF_INVALID');
        const wrong = await client.fetch('/note', { method: 'DELETE', headers: { 'x-csrf-token': 'A'.repeat(86) } });
        expectRefused(wrong, 'KEYCARD_CSRF_INVALID');
      });

      it('refuses the token of another session, even of the same user', async () => {
        const { client } = await signedIn(running, 'alice');
        const { token: otherToken } = await signedIn(running, 'alice');
        expectRefused(await client.post('/note', { note: 'x' }, { 'x-csrf-token': otherToken }), 'KEYCARD_CSRF_INVALID');
      });

      it('accepts its own token from the header, a form field and a JSON field, on POST and DELETE', async () => {
        const { client, token } = await signedIn(running, 'alice');
        expectStatus(await client.post('/note', { note: 'header' }, { 'x-csrf-token': token }), 201);
        expectStatus(await client.post('/note', { note: 'json', _csrf: token }), 201);
        expectStatus(await postForm(client, '/note', { note: 'form', _csrf: token }), 201);
        assert.equal(((await client.get('/public/read')).body as { note: string }).note, 'form');
        expectStatus(await client.fetch('/note', { method: 'DELETE', headers: { 'x-csrf-token': token } }), 200);
      });

      it('never shows the expected token (or the one sent) in the refusal', async () => {
        const { client, token } = await signedIn(running, 'alice');
        const sent = await tokenOf(running.client());
        const result = await client.post('/note', { note: 'x' }, { 'x-csrf-token': sent });
        expectRefused(result, 'KEYCARD_CSRF_INVALID');
        assert.ok(!result.text.includes(token) && !result.text.includes(sent));
        assert.equal((result.body as { message: string }).message, 'CSRF token invalid for this session: reload the page and try again.');
      });

      it('lets safe methods through without a token, whatever their origin', async () => {
        const { client } = await signedIn(running, 'alice');
        expectStatus(await client.get('/me', { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' }), 200);
      });
    });

    describe('when the request comes from another site', () => {
      it('refuses a cross-site Origin even with a valid token', async () => {
        const { client, token } = await signedIn(running, 'alice');
        const result = await client.post('/note', { note: 'x' }, { 'x-csrf-token': token, origin: 'https://evil.example' });
        expectRefused(result, 'KEYCARD_CSRF_CROSS_SITE');
      });

      it('refuses Origin: null and a pre-sign-in form posted from another site', async () => {
        const { client, token } = await signedIn(running, 'alice');
        expectRefused(await client.post('/note', { note: 'x' }, { 'x-csrf-token': token, origin: 'null' }), 'KEYCARD_CSRF_CROSS_SITE');
        const anonymous = running.client();
        const anonymousToken = await tokenOf(anonymous);
        const login = await anonymous.post('/login', { id: 'alice' }, { 'x-csrf-token': anonymousToken, origin: 'https://evil.example' });
        expectRefused(login, 'KEYCARD_CSRF_CROSS_SITE');
      });

      it('refuses Sec-Fetch-Site: cross-site even with a valid token and no Origin', async () => {
        const { client, token } = await signedIn(running, 'alice');
        const result = await client.post('/note', { note: 'x' }, { 'x-csrf-token': token, 'sec-fetch-site': 'cross-site' });
        expectRefused(result, 'KEYCARD_CSRF_CROSS_SITE');
      });

      it('accepts its own origin, same-site and user-initiated fetches, and an allow-listed origin', async () => {
        const { client, token } = await signedIn(running, 'alice');
        const cases: Record<string, string>[] = [
          { origin: running.url, 'sec-fetch-site': 'same-origin' },
          { 'sec-fetch-site': 'same-site' },
          { 'sec-fetch-site': 'none' },
          { origin: 'https://admin.example.com', 'sec-fetch-site': 'cross-site' },
        ];
        for (const headers of cases) {
          expectStatus(await client.post('/note', { note: 'x' }, { 'x-csrf-token': token, ...headers }), 201);
        }
      });
    });

    describe('when a request is exempt', () => {
      it('lets a bearer request through without a token, from anywhere', async () => {
        const issued = await running.app.get(SessionManager).issueToken({ id: 'cli', roles: [], authVersion: 1 });
        const result = await running.client().post('/note', { note: 'from the cli' }, {
          authorization: `Bearer ${issued.token}`,
          origin: 'https://elsewhere.example',
        });
        expectStatus(result, 201);
      });

      // Finding 11 of issue 13: `Authorization: Bearer garbage` skipped CSRF, so login and register
      // without a token succeeded (and left an orphan session).
      it('exempts nothing for an Authorization header that does not carry a valid bearer token', async () => {
        const manager = running.app.get(SessionManager);
        const revoked = await manager.issueToken({ id: 'gone', roles: [], authVersion: 1 });
        await manager.revokeAll('gone');
        const forged = `${revoked.token.slice(0, 44)}${'A'.repeat(43)}`;
        const unknown = `${new TokenSigner([SECRET]).sign('x'.repeat(43))}`;
        const creates = store.creates;
        for (const authorization of ['Bearer garbage', 'Bearer ', `Bearer ${forged}`, `Bearer ${unknown}`, `Bearer ${revoked.token}`, 'Basic YTpi']) {
          const login = await running.client().post('/login', { id: 'mallory' }, { authorization });
          expectRefused(login, 'KEYCARD_CSRF_MISSING');
          assert.equal(login.setCookies.length, 0, authorization);
          expectRefused(await running.client().post('/note', { note: 'x' }, { authorization }), 'KEYCARD_CSRF_MISSING');
        }
        assert.equal(store.creates, creates, 'no session was created');
      });

      it("@SkipCsrf('token') needs no token but still refuses a cross-site Origin or Sec-Fetch-Site", async () => {
        expectStatus(await running.client().post('/credentials', {}), 201);
        expectStatus(await running.client().post('/credentials', {}, { origin: running.url, 'sec-fetch-site': 'same-origin' }), 201);
        expectRefused(await running.client().post('/credentials', {}, { origin: 'https://evil.example' }), 'KEYCARD_CSRF_CROSS_SITE');
        expectRefused(await running.client().post('/credentials', {}, { 'sec-fetch-site': 'cross-site' }), 'KEYCARD_CSRF_CROSS_SITE');
        expectRefused(await running.client().post('/credentials', {}, { origin: 'null' }), 'KEYCARD_CSRF_CROSS_SITE');
      });

      // Finding 15 of issue 13: CSRF refusals were not reported.
      it('reports each refusal as a csrfRefused event with its reason, naming no token', async () => {
        const seen: SessionEvent[] = [];
        const off = running.app.get(SessionManager).events.on('csrfRefused', (event) => seen.push(event));
        try {
          await running.client().post('/note', { note: 'x' });
          await running.client().post('/note', { note: 'x' }, { 'x-csrf-token': 'forged' });
          await running.client().post('/note', { note: 'x' }, { origin: 'https://evil.example' });
        } finally {
          off();
        }
        assert.deepEqual(seen.map((event) => event.reason), ['KEYCARD_CSRF_MISSING', 'KEYCARD_CSRF_INVALID', 'KEYCARD_CSRF_CROSS_SITE']);
        for (const event of seen) assert.equal(event.type, 'csrfRefused');
      });

      it('lets @SkipCsrf() routes and controllers through', async () => {
        const { client } = await signedIn(running, 'alice');
        expectStatus(await client.post('/webhook', {}, { origin: 'https://hooks.example' }), 201);
        expectStatus(await client.post('/skipped'), 201);
        expectStatus(await running.client().post('/skipped'), 201);
      });
    });

    describe('when the session id rotates', () => {
      it('keeps a signed-in token valid across rotation (privilege change)', async () => {
        const { client, token } = await signedIn(running, 'alice');
        const before = client.cookie('sid');
        expectStatus(await client.post('/rotate', {}, { 'x-csrf-token': token }), 201);
        assert.notEqual(client.cookie('sid'), before, 'a new id was issued');
        expectStatus(await client.post('/note', { note: 'after rotation' }, { 'x-csrf-token': token }), 201);
      });

      it('changes the token at sign-in: the page rendered right after sign-in works, the pre-sign-in token does not', async () => {
        const client = running.client();
        const preToken = await tokenOf(client);
        const login = await client.post('/login-page', { id: 'alice' }, { 'x-csrf-token': preToken });
        expectStatus(login, 201);
        const pageToken = (login.body as { token: string }).token;
        expectRefused(await client.post('/note', { note: 'x' }, { 'x-csrf-token': preToken }), 'KEYCARD_CSRF_INVALID');
        expectStatus(await client.post('/note', { note: 'x' }, { 'x-csrf-token': pageToken }), 201);
        expectStatus(await client.post('/note', { note: 'x' }, { 'x-csrf-token': await tokenOf(client) }), 201);
      });

      it('does not carry a token over from an anonymous session into a sign-in on it', async () => {
        const client = running.client();
        // An anonymous session with data, then sign-in on it: the handle is kept, the token is not.
        expectStatus(await client.post('/note', { note: 'cart' }, { 'x-csrf-token': await tokenOf(client) }), 201);
        const anonymousToken = await tokenOf(client);
        expectStatus(await client.post('/login', { id: 'alice' }, { 'x-csrf-token': anonymousToken }), 201);
        expectRefused(await client.post('/note', { note: 'x' }, { 'x-csrf-token': anonymousToken }), 'KEYCARD_CSRF_INVALID');
      });

      it('refuses the old token after sign-out', async () => {
        const { client, token } = await signedIn(running, 'alice');
        const keep = client.fork();
        expectStatus(await client.post('/logout', {}, { 'x-csrf-token': token }), 204);
        // The old cookie is dead, so the request is anonymous and the session token means nothing.
        expectRefused(await keep.post('/note', { note: 'x' }, { 'x-csrf-token': token }), 'KEYCARD_CSRF_INVALID');
      });
    });
  });

  describe(`CSRF configuration on ${platform}: one way, the SessionModule's csrf option`, () => {
    const withFactory = (factory: () => SessionModuleOptions): ModuleMetadata => ({
      imports: [SessionModule.forRootAsync({ useFactory: factory })],
      controllers: [SessionTestController, CsrfTestController, CsrfOffController],
      providers: [{ provide: Gates, useValue: new Gates() }],
    });

    // Regression: the csrf returned by a forRootAsync factory was silently ignored (the defaults applied).
    it('takes csrf options from the object a forRootAsync factory returns', async () => {
      const running = await startApp(platform, withFactory(() => ({ secrets: SECRET, csrf: { allowedFetchSites: ['same-origin', 'none'] } })));
      try {
        const client = running.client();
        const token = await tokenOf(client);
        expectRefused(await client.post('/login', { id: 'a' }, { 'x-csrf-token': token, 'sec-fetch-site': 'same-site' }), 'KEYCARD_CSRF_CROSS_SITE');
        expectStatus(await client.post('/login', { id: 'a' }, { 'x-csrf-token': token, 'sec-fetch-site': 'same-origin' }), 201);
      } finally {
        await running.close();
      }
    });

    it('turns CSRF protection off with csrf: false from a forRootAsync factory', async () => {
      const running = await startApp(platform, withFactory(() => ({ secrets: SECRET, csrf: false })));
      try {
        expectStatus(await running.client().post('/login', { id: 'alice' }), 201);
      } finally {
        await running.close();
      }
    });

    it('keeps CSRF protection on when a forRootAsync factory returns no csrf', async () => {
      const running = await startApp(platform, withFactory(() => ({ secrets: SECRET })));
      try {
        expectRefused(await running.client().post('/login', { id: 'alice' }), 'KEYCARD_CSRF_MISSING');
      } finally {
        await running.close();
      }
    });

    it('refuses a csrf option that is neither options nor false, at start-up', async () => {
      await assert.rejects(startApp(platform, withFactory(() => ({ secrets: SECRET, csrf: true as unknown as false }))), {
        name: 'InvalidOptionsError',
        message: 'keycard: csrf must be an options object, or false to turn CSRF protection off; got true',
      });
    });

    // Regression: with csrf: false, csrfTokenFor answered 500 advising to import CsrfModule.forRoot(), which the README forbids.
    it('with csrf: false, csrfTokenFor says that CSRF is off and where (500 for the request)', async () => {
      const running = await startApp(platform, {
        imports: [SessionModule.forRoot({ secrets: SECRET, csrf: false })],
        controllers: [CsrfOffController],
      });
      try {
        const client = running.client();
        const caught = await client.get('/off/token-error');
        expectStatus(caught, 200);
        assert.deepEqual(caught.body, {
          code: 'KEYCARD_CSRF_NOT_CONFIGURED',
          message:
            'keycard: CSRF protection is off (csrf: false in the SessionModule options), so there is no CSRF token to give ' +
            'and none to check. Remove csrf: false, or stop calling csrfTokenFor / CsrfService and using CsrfGuard.',
        });
        expectStatus(await client.get('/off/token'), 500);
      } finally {
        await running.close();
      }
    });

    it('without SessionModule, csrfTokenFor says that SessionModule is missing', async () => {
      const running = await startApp(platform, { controllers: [CsrfOffController] });
      try {
        const caught = await running.client().get('/off/token-error');
        expectStatus(caught, 200);
        assert.equal(
          (caught.body as { message: string }).message,
          'keycard: no CSRF protection on this request: SessionModule.forRoot() (which installs it) is not imported in the application module.',
        );
      } finally {
        await running.close();
      }
    });

    it('with csrf: false, a CsrfGuard put on a route by hand refuses unsafe requests instead of letting them through', async () => {
      const running = await startApp(platform, {
        imports: [SessionModule.forRoot({ secrets: SECRET, csrf: false })],
        controllers: [HandGuardedController],
      });
      try {
        expectStatus(await running.client().post('/off/guarded', {}), 500);
      } finally {
        await running.close();
      }
    });
  });

  describe(`CSRF on ${platform} with options`, () => {
    it('uses __Host-csrf, Secure, when cookies are Secure', async () => {
      const running = await startApp(platform, csrfApp({ cookie: { secure: true } }));
      try {
        const client = running.client();
        const result = await client.get('/csrf');
        expectCookie(result, '__Host-csrf', { secure: true, httpOnly: true, path: '/' });
        expectStatus(await client.post('/login', { id: 'alice' }, { 'x-csrf-token': (result.body as { token: string }).token }), 201);
      } finally {
        await running.close();
      }
    });

    it("computes the request's own origin behind a trusted proxy, and ignores forwarded headers otherwise", async () => {
      const forwarded = { origin: 'https://app.example.com', 'x-forwarded-host': 'app.example.com', 'x-forwarded-proto': 'https' };
      for (const trustProxy of [true, false]) {
        const running = await startApp(platform, csrfApp(), { trustProxy });
        try {
          const client = running.client();
          // Every request goes through the proxy, so the cookie follows the forwarded scheme too.
          const page = await client.get('/csrf', forwarded);
          expectCookie(page, trustProxy ? '__Host-csrf' : 'csrf');
          const token = (page.body as { token: string }).token;
          const result = await client.post('/login', { id: 'alice' }, { 'x-csrf-token': token, ...forwarded });
          if (trustProxy) expectStatus(result, 201);
          else expectRefused(result, 'KEYCARD_CSRF_CROSS_SITE');
        } finally {
          await running.close();
        }
      }
    });

    it('refuses same-site requests when only same-origin is allowed', async () => {
      const running = await startApp(platform, csrfApp({}, { allowedFetchSites: ['same-origin', 'none'] }));
      try {
        const client = running.client();
        const token = await tokenOf(client);
        expectRefused(await client.post('/login', { id: 'a' }, { 'x-csrf-token': token, 'sec-fetch-site': 'same-site' }), 'KEYCARD_CSRF_CROSS_SITE');
        expectStatus(await client.post('/login', { id: 'a' }, { 'x-csrf-token': token, 'sec-fetch-site': 'same-origin' }), 201);
      } finally {
        await running.close();
      }
    });

    it('answers 503, not 403, when the session store is down', async () => {
      const running = await startApp(platform, csrfApp({ store: new DownStore('reject') }));
      try {
        const signed = new TokenSigner([SECRET]).sign('A'.repeat(43));
        const result = await running.client().fetch('/note', {
          method: 'POST',
          json: { note: 'x' },
          headers: { cookie: `sid=${signed}`, 'x-csrf-token': 'A'.repeat(86) },
          cookies: false,
        });
        expectKeycardError(result, 503, 'KEYCARD_STORE_UNAVAILABLE');
      } finally {
        await running.close();
      }
    });

    it("with guard: 'none', checks nothing by itself", async () => {
      const running = await startApp(platform, csrfApp({}, { guard: 'none' }));
      try {
        expectStatus(await running.client().post('/login', { id: 'alice' }), 201);
      } finally {
        await running.close();
      }
    });
  });
}

describe('CSRF configuration: refused at start-up when given another way', () => {
  // Regression: CsrfModule.forRoot() next to SessionModule registered a second guard and its options were ignored.
  it('refuses CsrfModule.forRoot() and forRootAsync(): SessionModule installs CSRF protection', () => {
    const message =
      'keycard: CsrfModule is installed by SessionModule; do not import it yourself. Remove CsrfModule.forRoot() / ' +
      'forRootAsync() and give its options as the csrf option of SessionModule.forRoot({ csrf: { ... } }) ' +
      '(or of the object your forRootAsync factory returns); csrf: false turns CSRF protection off.';
    assert.throws(() => ({ imports: [SessionModule.forRoot({ secrets: SECRET }), CsrfModule.forRoot({ allowedOrigins: [] })] }), (error: unknown) => {
      assert.ok(error instanceof InvalidOptionsError, String(error));
      assert.equal(error.message, message);
      return true;
    });
    assert.throws(() => CsrfModule.forRootAsync({ useFactory: () => ({}) }), { name: 'InvalidOptionsError', message });
  });

  it('refuses csrf beside useFactory in SessionModule.forRootAsync: it belongs in what the factory returns', () => {
    const options = { csrf: false, useFactory: () => ({ secrets: SECRET }) };
    assert.throws(() => SessionModule.forRootAsync(options), {
      name: 'InvalidOptionsError',
      message: 'keycard: SessionModule.forRootAsync takes csrf in the object that useFactory returns, not beside useFactory',
    });
  });
});
