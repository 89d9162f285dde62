import 'reflect-metadata';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SessionModule } from '../src/nest/index.js';
import { CookiesController } from './readme/app-cookies.example.js';
import { PLATFORMS, expectCookie, expectStatus, startApp, type RunningApp } from './support/http.js';
import { exampleSource, readmeBlock } from './support/readme.js';
import { SECRET } from './support/session-app.js';

/**
 * The README's examples are files under test/readme, compiled with the tests
 * and run here; the README must show each one exactly, with the import paths
 * as a user writes them.
 */
describe('README examples', () => {
  it('sealed-session: the README shows the compiled example exactly', () => {
    assert.equal(readmeBlock('sealed-session'), exampleSource('sealed-session'));
  });

  for (const platform of PLATFORMS) {
    it(`sealed-session (the seeds' @fastify/secure-session example) runs on ${platform}: visits counted in the cookie alone`, async () => {
      process.env['SESSION_SECRET'] ??= SECRET;
      const { AppModule } = await import('./readme/sealed-session.example.js');
      const running = await startApp(platform, AppModule);
      try {
        const client = running.client();
        assert.deepEqual((await client.get('/')).body, { visits: 1 });
        assert.deepEqual((await client.get('/')).body, { visits: 2 });
        assert.ok((client.cookie('sid') ?? '').length > 100, 'the session is the cookie');
        assert.deepEqual((await running.client().get('/')).body, { visits: 1 }, 'another browser, its own count');
      } finally {
        await running.close();
      }
    });
  }

  it('app-cookies: the README shows the compiled example exactly', () => {
    assert.equal(readmeBlock('app-cookies'), exampleSource('app-cookies'));
  });

  for (const platform of PLATFORMS) {
    describe(`app-cookies runs on ${platform}`, () => {
      let running: RunningApp;
      before(async () => {
        running = await startApp(platform, {
          imports: [SessionModule.forRoot({ secrets: SECRET, csrf: false })],
          controllers: [CookiesController],
        });
      });
      after(() => running.close());

      it('sets, reads, signs and seals as its comments say', async () => {
        const client = running.client();
        assert.deepEqual((await client.get('/theme')).body, { theme: 'light' });
        const set = await client.post('/set-cookie');
        expectStatus(set, 201);
        assert.equal(set.text, 'Cookie set');
        expectCookie(set, 'theme', { httpOnly: true, sameSite: 'Lax', maxAge: 60 });
        assert.deepEqual((await client.get('/theme')).body, { theme: 'dark' });
        assert.deepEqual((await client.get('/cookies')).body, { theme: 'dark' });
        await client.post('/cart');
        assert.deepEqual((await client.get('/cart')).body, { cart: 'item-42', checkout: { coupon: 'WELCOME10' } });
        client.setCookie('cart', (client.cookie('cart') ?? '').replace('42', '43'));
        client.setCookie('checkout', `x${client.cookie('checkout') ?? ''}`);
        assert.deepEqual((await client.get('/cart')).body, { cart: null, checkout: null });
      });
    });
  }
});
