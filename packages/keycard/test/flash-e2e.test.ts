import 'reflect-metadata';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Body, Controller, Get, HttpCode, Post, Redirect } from '@nestjs/common';
import type { FlashMessage, Session as KeycardSession } from '../src/index.js';
import { Public, Session, SessionModule } from '../src/nest/index.js';
import { PLATFORMS, expectStatus, startApp, type RunningApp } from './support/http.js';
import { SECRET } from './support/session-app.js';

@Public()
@Controller()
class FlashController {
  @Post('sign-in')
  @HttpCode(204)
  async signIn(@Session() session: KeycardSession): Promise<void> {
    await session.signIn({ id: 'u1', roles: [], authVersion: 1 });
  }

  @Post('save')
  @Redirect('/page', 303)
  save(@Session() session: KeycardSession, @Body() body: { messages?: string[] }): void {
    for (const message of body.messages ?? ['Saved.']) session.flash('success', message);
  }

  @Get('page')
  page(@Session() session: KeycardSession): { flashes: FlashMessage[]; signedIn: boolean } {
    return { flashes: session.flashes(), signedIn: session.isAuthenticated };
  }

  @Post('sign-in-then-flash')
  @HttpCode(204)
  async signInThenFlash(@Session() session: KeycardSession): Promise<void> {
    await session.signIn({ id: 'u2', roles: [], authVersion: 1 });
    session.flash('success', 'Welcome back!');
  }

  @Post('bad')
  bad(@Session() session: KeycardSession): void {
    session.flash('success', 'x'.repeat(501));
  }
}

for (const platform of PLATFORMS) {
  describe(`flash messages on ${platform}`, () => {
    let running: RunningApp;
    before(async () => {
      running = await startApp(platform, { imports: [SessionModule.forRoot({ secrets: SECRET, csrf: false })], controllers: [FlashController] });
    });
    after(() => running.close());

    it('signed in: kept in the session, survives the redirect, shown once', async () => {
      const browser = running.client();
      await browser.post('/sign-in');
      const saved = await browser.post('/save', { messages: ['Saved.', 'And sent.'] });
      expectStatus(saved, 303);
      assert.deepEqual(saved.setCookies.map((cookie) => cookie.name), [], 'nothing but the session holds it');
      assert.deepEqual((await browser.get('/page')).body, {
        flashes: [
          { type: 'success', message: 'Saved.' },
          { type: 'success', message: 'And sent.' },
        ],
        signedIn: true,
      });
      assert.deepEqual((await browser.get('/page')).body, { flashes: [], signedIn: true });
    });

    it('anonymous: a signed cookie, no session created; shown once, then the cookie is cleared', async () => {
      const browser = running.client();
      const saved = await browser.post('/save', { messages: ['Signed out.', 'See you.'] });
      assert.deepEqual(saved.setCookies.map((cookie) => cookie.name), ['kc_flash']);
      assert.equal(browser.cookie('sid'), undefined);
      const page = await browser.get('/page');
      assert.deepEqual(page.body, {
        flashes: [
          { type: 'success', message: 'Signed out.' },
          { type: 'success', message: 'See you.' },
        ],
        signedIn: false,
      });
      assert.equal(page.setCookies.find((cookie) => cookie.name === 'kc_flash')?.attributes.get('max-age'), '0');
      assert.equal(browser.cookie('sid'), undefined, 'reading a flash starts no session either');
      assert.deepEqual((await browser.get('/page')).body, { flashes: [], signedIn: false });
    });

    it('anonymous: a changed flash cookie shows nothing (a client cannot put words on the page)', async () => {
      const browser = running.client();
      await browser.post('/save', { messages: ['Hello'] });
      browser.setCookie('kc_flash', (browser.cookie('kc_flash') ?? '').replace('Hello', 'Hacked'));
      assert.deepEqual((await browser.get('/page')).body, { flashes: [], signedIn: false });
    });

    it('a flash made before sign-in is still shown after it', async () => {
      const browser = running.client();
      await browser.post('/save', { messages: ['Please sign in to continue.'] });
      await browser.post('/sign-in-then-flash');
      assert.deepEqual((await browser.get('/page')).body, {
        flashes: [
          { type: 'success', message: 'Please sign in to continue.' },
          { type: 'success', message: 'Welcome back!' },
        ],
        signedIn: true,
      });
    });

    it('an over-long message is refused (500 KEYCARD_INVALID_VALUE), nothing stored', async () => {
      const browser = running.client();
      const result = await browser.post('/bad');
      expectStatus(result, 500);
      assert.equal((result.body as { code?: string }).code, 'KEYCARD_INVALID_VALUE');
      assert.deepEqual(result.setCookies, []);
    });
  });
}
