import 'reflect-metadata';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Body, Controller, Get, HttpCode, Injectable, Post, Redirect, Req, UseGuards, type CanActivate, type ExecutionContext } from '@nestjs/common';
import type { CookieJar, JsonValue, Session as KeycardSession } from '../src/index.js';
import { CookieService, Cookies, Public, Session, SessionModule, type RequestLike, type SessionModuleOptions } from '../src/nest/index.js';
import { manualClock, type ManualClock } from './support/clock.js';
import { PLATFORMS, expectCookie, expectKeycardError, expectStatus, startApp, type RunningApp } from './support/http.js';

const OLD = 'old-secret-0123456789-abcdefghijklmn';
const NEW = 'new-secret-0123456789-abcdefghijklmn';

/** Puts a cookie from a guard, through the injectable service: the same jar the handler gets. */
@Injectable()
class VisitGuard implements CanActivate {
  constructor(private readonly cookies: CookieService) {}
  canActivate(context: ExecutionContext): boolean {
    this.cookies.of(context.switchToHttp().getRequest<RequestLike>()).set('visited', 'yes');
    return true;
  }
}

@Public()
@Controller('c')
class CookieController {
  @Get('all')
  all(@Cookies() cookies: CookieJar): Readonly<Record<string, string>> {
    return cookies.all();
  }

  @Get('theme')
  theme(@Cookies('theme') theme: string | undefined): { theme: string | null } {
    return { theme: theme ?? null };
  }

  @Post('theme')
  @HttpCode(204)
  setTheme(@Cookies() cookies: CookieJar, @Body() body: { theme: string }): void {
    cookies.set('theme', body.theme, { maxAge: 60 });
  }

  @Post('clear')
  @HttpCode(204)
  clear(@Cookies() cookies: CookieJar): void {
    cookies.clear('theme');
  }

  @Post('signed')
  @HttpCode(204)
  setSigned(@Cookies() cookies: CookieJar, @Body() body: { value: string; maxAge?: number }): void {
    cookies.setSigned('cart', body.value, body.maxAge === undefined ? {} : { maxAge: body.maxAge });
  }

  @Get('signed')
  signed(@Cookies() cookies: CookieJar): { value: string | null } {
    return { value: cookies.getSigned('cart') };
  }

  @Post('sealed')
  @HttpCode(204)
  setSealed(@Cookies() cookies: CookieJar, @Body() body: { value: JsonValue }): void {
    cookies.setSealed('prefs', body.value, { maxAge: 3600 });
  }

  @Get('sealed')
  sealed(@Cookies() cookies: CookieJar): { value: JsonValue | null } {
    return { value: cookies.getSealed('prefs') };
  }

  @Post('bad')
  bad(@Cookies() cookies: CookieJar): void {
    cookies.set('x', 'y', { path: '/x; Domain=evil.example' });
  }

  @Post('huge')
  huge(@Cookies() cookies: CookieJar): void {
    cookies.setSealed('prefs', 'x'.repeat(5000));
  }

  @Post('sign-in')
  @HttpCode(204)
  async signIn(@Session() session: KeycardSession, @Cookies() cookies: CookieJar): Promise<void> {
    cookies.set('theme', 'dark');
    await session.signIn({ id: 'u1', roles: [], authVersion: 1 });
    cookies.setSigned('cart', 'after-sign-in');
  }

  @Get('redirect')
  @Redirect('/c/all', 303)
  redirect(@Cookies() cookies: CookieJar): void {
    cookies.set('theme', 'from-redirect');
  }

  @Post('throws')
  throws(@Cookies() cookies: CookieJar): void {
    cookies.set('theme', 'before-error');
    throw new Error('boom');
  }

  @Get('guarded')
  @UseGuards(VisitGuard)
  guarded(@Req() request: RequestLike, @Cookies() cookies: CookieJar): { same: boolean } {
    return { same: new CookieService().of(request) === cookies };
  }
}

function app(secrets: readonly string[], clock: ManualClock, extra: Partial<SessionModuleOptions> = {}) {
  return {
    imports: [SessionModule.forRoot({ secrets, csrf: false, clock, ...extra })],
    controllers: [CookieController],
    providers: [VisitGuard],
  };
}

for (const platform of PLATFORMS) {
  describe(`app cookies on ${platform}`, () => {
    let running: RunningApp;
    const clock = manualClock();
    before(async () => {
      running = await startApp(platform, app([NEW], clock));
    });
    after(() => running.close());

    describe('plain', () => {
      it('sets a cookie with the secure defaults and reads it back by name and in all()', async () => {
        const client = running.client();
        const set = await client.post('/c/theme', { theme: 'dark blue' });
        expectStatus(set, 204);
        expectCookie(set, 'theme', { httpOnly: true, sameSite: 'Lax', secure: false, path: '/', maxAge: 60 });
        assert.deepEqual((await client.get('/c/theme')).body, { theme: 'dark blue' });
        assert.deepEqual((await client.get('/c/all')).body, { theme: 'dark blue' });
      });

      it('clears it', async () => {
        const client = running.client();
        await client.post('/c/theme', { theme: 'dark' });
        expectCookie(await client.post('/c/clear'), 'theme', { cleared: true });
        assert.deepEqual((await client.get('/c/theme')).body, { theme: null });
      });

      it('never hands keycard’s session cookie to the application', async () => {
        const client = running.client();
        expectStatus(await client.post('/c/sign-in'), 204);
        assert.ok(client.cookie('sid'));
        const all = (await client.get('/c/all')).body as Record<string, string>;
        assert.equal(all['sid'], undefined);
        assert.equal(all['theme'], 'dark');
      });

      it('refuses a bad attribute with a 500 KEYCARD_INVALID_COOKIE and sends no cookie', async () => {
        const result = await running.client().post('/c/bad');
        expectKeycardError(result, 500, 'KEYCARD_INVALID_COOKIE');
        assert.deepEqual(result.setCookies, []);
      });
    });

    describe('merged with keycard’s own Set-Cookie', () => {
      it('a sign-in response carries the session cookie and the app’s cookies', async () => {
        const result = await running.client().post('/c/sign-in');
        expectCookie(result, 'sid', { httpOnly: true });
        expectCookie(result, 'theme');
        expectCookie(result, 'cart');
      });

      it('a redirect carries the cookie', async () => {
        const result = await running.client().get('/c/redirect');
        expectStatus(result, 303);
        assert.equal(expectCookie(result, 'theme').value, 'from-redirect');
      });

      it('an error answer keeps a cookie set before the error', async () => {
        const result = await running.client().post('/c/throws');
        expectStatus(result, 500);
        assert.equal(expectCookie(result, 'theme').value, 'before-error');
      });

      it('a guard writes through CookieService into the same jar the handler gets', async () => {
        const result = await running.client().get('/c/guarded');
        assert.deepEqual(result.body, { same: true });
        expectCookie(result, 'visited');
      });
    });

    describe('signed', () => {
      it('round-trips, the value readable on the wire', async () => {
        const client = running.client();
        await client.post('/c/signed', { value: 'item-42' });
        assert.match(client.cookie('cart') ?? '', /^item-42\./);
        assert.deepEqual((await client.get('/c/signed')).body, { value: 'item-42' });
      });

      it('tampered: null', async () => {
        const client = running.client();
        await client.post('/c/signed', { value: 'item-42' });
        client.setCookie('cart', (client.cookie('cart') ?? '').replace('item-42', 'item-43'));
        assert.deepEqual((await client.get('/c/signed')).body, { value: null });
      });

      it('past its Max-Age: null, even if the client kept it', async () => {
        const client = running.client();
        await client.post('/c/signed', { value: 'x', maxAge: 30 });
        clock.advance(31_000);
        assert.deepEqual((await client.get('/c/signed')).body, { value: null });
      });
    });

    describe('sealed', () => {
      it('round-trips a JSON value that is unreadable on the wire', async () => {
        const client = running.client();
        await client.post('/c/sealed', { value: { plan: 'pro' } });
        assert.doesNotMatch(client.cookie('prefs') ?? '', /pro/);
        assert.deepEqual((await client.get('/c/sealed')).body, { value: { plan: 'pro' } });
      });

      it('tampered: null', async () => {
        const client = running.client();
        await client.post('/c/sealed', { value: { plan: 'pro' } });
        const value = client.cookie('prefs') ?? '';
        client.setCookie('prefs', `${value.slice(0, 20)}${value[20] === 'x' ? 'y' : 'x'}${value.slice(21)}`);
        assert.deepEqual((await client.get('/c/sealed')).body, { value: null });
      });

      it('too large for a cookie: 500 KEYCARD_COOKIE_TOO_LARGE, nothing sent', async () => {
        const result = await running.client().post('/c/huge');
        expectKeycardError(result, 500, 'KEYCARD_COOKIE_TOO_LARGE');
        assert.deepEqual(result.setCookies, []);
      });
    });

    describe('rotated keys', () => {
      it('cookies made under the old secret are read and re-issued under the new one; once the old is gone, the re-issued ones still work', async () => {
        const rotationClock = manualClock();
        const browser = running.client();
        const old = await startApp(platform, app([OLD], rotationClock));
        try {
          expectStatus(await browser.at(old.url).post('/c/signed', { value: 'kept' }), 204);
          expectStatus(await browser.at(old.url).post('/c/sealed', { value: { plan: 'pro' } }), 204);
        } finally {
          await old.close();
        }
        const oldCart = browser.cookie('cart') as string;
        const oldPrefs = browser.cookie('prefs') as string;
        const rotated = await startApp(platform, app([NEW, OLD], rotationClock));
        try {
          const signed = await browser.at(rotated.url).get('/c/signed');
          assert.deepEqual(signed.body, { value: 'kept' });
          expectCookie(signed, 'cart', { httpOnly: true });
          const sealed = await browser.at(rotated.url).get('/c/sealed');
          assert.deepEqual(sealed.body, { value: { plan: 'pro' } });
          expectCookie(sealed, 'prefs', { maxAge: 3600 });
          assert.notEqual(browser.cookie('cart'), oldCart);
          assert.notEqual(browser.cookie('prefs'), oldPrefs);
        } finally {
          await rotated.close();
        }
        const onlyNew = await startApp(platform, app([NEW], rotationClock));
        try {
          assert.deepEqual((await browser.at(onlyNew.url).get('/c/signed')).body, { value: 'kept' });
          assert.deepEqual((await browser.at(onlyNew.url).get('/c/sealed')).body, { value: { plan: 'pro' } });
          const stale = browser.fork().at(onlyNew.url);
          stale.setCookie('cart', oldCart);
          stale.setCookie('prefs', oldPrefs);
          assert.deepEqual((await stale.get('/c/signed')).body, { value: null });
          assert.deepEqual((await stale.get('/c/sealed')).body, { value: null });
        } finally {
          await onlyNew.close();
        }
      });
    });

    describe('over HTTPS (cookie.secure: true)', () => {
      it('writes Secure __Host- cookies and reads them under the plain name', async () => {
        const secure = await startApp(platform, app([NEW], clock, { cookie: { secure: true } }));
        try {
          const client = secure.client();
          const set = await client.post('/c/theme', { theme: 'dark' });
          expectCookie(set, '__Host-theme', { secure: true, httpOnly: true, sameSite: 'Lax' });
          assert.deepEqual((await client.get('/c/theme')).body, { theme: 'dark' });
          await client.post('/c/signed', { value: 'x' });
          assert.ok(client.cookie('__Host-cart'));
          assert.deepEqual((await client.get('/c/signed')).body, { value: 'x' });
        } finally {
          await secure.close();
        }
      });
    });
  });
}

