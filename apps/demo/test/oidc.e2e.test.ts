import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TestProvider } from '../../../packages/keycard/dist-test/test/support/oidc-provider.js';
import { registerAccount } from './support/accounts.js';
import { Client } from './support/http-client.js';
import { PLATFORMS, startTestApp, type TestApp } from './support/test-app.js';

// keycard's test helper that runs a real oidc-provider, from its compiled tests (one copy of it, not two).
const { CLIENT_ID, CLIENT_SECRET, freePort, startProvider } = (await import(
  new URL('../../../../packages/keycard/dist-test/test/support/oidc-provider.js', import.meta.url).href
)) as typeof import('../../../packages/keycard/dist-test/test/support/oidc-provider.js');

/** The reference app's optional "Sign in with …", against a real oidc-provider. */
for (const platform of PLATFORMS) {
  describe(`"Sign in with …" (OIDC_*) on ${platform}`, () => {
    let app: TestApp;
    let provider: TestProvider;
    before(async () => {
      const [appPort, providerPort] = [await freePort(), await freePort()];
      const redirectUri = `http://127.0.0.1:${appPort}/auth/oidc/callback`;
      provider = await startProvider([redirectUri], { port: providerPort });
      app = await startTestApp(platform, {
        PORT: String(appPort),
        OIDC_ISSUER: provider.issuer,
        OIDC_CLIENT_ID: CLIENT_ID,
        OIDC_CLIENT_SECRET: CLIENT_SECRET,
        OIDC_REDIRECT_URI: redirectUri,
      });
    });
    after(async () => {
      await app?.close();
      await provider?.close();
    });

    it('the sign-in page offers the button; the provider’s verified e-mail signs that account in, under a new session', async () => {
      const account = await registerAccount(app.url);
      const browser = new Client(app.url);
      const page = await browser.get('/login', { headers: { accept: 'text/html' } });
      assert.match(page.text, new RegExp(`href="/auth/oidc\\?next=%2F">Sign in with 127\\.0\\.0\\.1:${new URL(provider.issuer).port}`));
      const started = await browser.get('/auth/oidc?next=/profile', { headers: { accept: 'text/html' } });
      assert.equal(started.status, 303);
      provider.nextAccount = account.email;
      const callback = await provider.authorize(started.headers.get('location') as string);
      assert.match(callback, /^\/auth\/oidc\/callback\?/);
      const done = await browser.get(callback, { headers: { accept: 'text/html' } });
      assert.equal(done.status, 303, done.text);
      assert.equal(done.headers.get('location'), '/profile');
      const me = await browser.get('/api/auth/me');
      assert.equal(me.status, 200, me.text);
      assert.equal(me.json.user.email, account.email);
    });

    it('an e-mail without an account signs nobody in and says so', async () => {
      const browser = new Client(app.url);
      const started = await browser.get('/auth/oidc', { headers: { accept: 'text/html' } });
      provider.nextAccount = `nobody-${Date.now()}`;
      const done = await browser.get(await provider.authorize(started.headers.get('location') as string), { headers: { accept: 'text/html' } });
      assert.equal(done.status, 303);
      assert.equal(done.headers.get('location'), '/login');
      assert.equal((await browser.get('/api/auth/me')).status, 401);
      assert.match((await browser.get('/login', { headers: { accept: 'text/html' } })).text, /identity provider did not work/);
    });
  });
}

describe('without OIDC_* the button is absent', () => {
  let app: TestApp;
  before(async () => {
    app = await startTestApp('express');
  });
  after(() => app.close());
  it('no button, no route', async () => {
    const browser = new Client(app.url);
    assert.doesNotMatch((await browser.get('/login', { headers: { accept: 'text/html' } })).text, /Sign in with/);
    assert.equal((await browser.get('/auth/oidc', { headers: { accept: 'text/html' } })).status, 404);
  });
});
