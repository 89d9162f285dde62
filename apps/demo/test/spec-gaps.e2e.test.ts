import 'reflect-metadata';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PASSWORD, registerAccount } from './support/accounts.js';
import { Client, cookieAttributes } from './support/http-client.js';
import { LOGIN_MAX_ATTEMPTS, PLATFORMS, startTestApp, uniqueEmail, type TestApp } from './support/test-app.js';

/**
 * Sentences of SPEC "The reference app" that apps/demo/SPEC-CHECKLIST.md
 * listed as pinned by nothing from the outside: the per-IP sign-in limit
 * ("more loosely, per client IP across accounts (default ten times the
 * per-account limit)") with real, distinct addresses, and COOKIE_SECURE
 * true/false forcing the cookie over plain HTTP.
 */
for (const platform of PLATFORMS) {
  describe(`SPEC sentences pinned from the outside (${platform})`, () => {
    let app: TestApp;
    before(async () => {
      app = await startTestApp(platform);
    });
    after(() => app?.close());

    it('sign-in failures from one address across many accounts: past ten times the per-account limit, 429 for that address only', async () => {
      const account = await registerAccount(app.url);
      const attacker = '198.51.100.77';
      const ipLimit = 10 * LOGIN_MAX_ATTEMPTS;
      // Fewer failures per account than LOGIN_MAX_ATTEMPTS, so no account is locked: only the address can be.
      const perAccount = LOGIN_MAX_ATTEMPTS - 1;
      let failures = 0;
      while (failures < ipLimit) {
        const email = uniqueEmail();
        for (let i = 0; i < perAccount && failures < ipLimit; i++, failures++) {
          const wrong = await new Client(app.url, 'guesser', attacker).post('/api/auth/login', { json: { email, password: 'a wrong guess!' } });
          assert.equal(wrong.status, 401, `failure ${failures + 1} of ${ipLimit}: ${wrong.text}`);
        }
      }
      const blocked = await new Client(app.url, 'guesser', attacker).post('/api/auth/login', { json: { email: account.email, password: PASSWORD } });
      assert.equal(blocked.status, 429, `the address is past ${ipLimit} failures: ${blocked.text}`);
      assert.match(blocked.headers.get('retry-after') ?? '', /^\d+$/);
      const elsewhere = await new Client(app.url, 'owner', '198.51.100.78').post('/api/auth/login', { json: { email: account.email, password: PASSWORD } });
      assert.equal(elsewhere.status, 200, `another address signs in to the same account: ${elsewhere.text}`);
    });

    it('one failure short of the per-IP limit still signs in from that address', async () => {
      const account = await registerAccount(app.url);
      const address = '198.51.100.79';
      for (let failures = 0; failures < 10 * LOGIN_MAX_ATTEMPTS - 1; ) {
        const email = uniqueEmail();
        for (let i = 0; i < LOGIN_MAX_ATTEMPTS - 1 && failures < 10 * LOGIN_MAX_ATTEMPTS - 1; i++, failures++) {
          assert.equal((await new Client(app.url, 'guesser', address).post('/api/auth/login', { json: { email, password: 'a wrong guess!' } })).status, 401);
        }
      }
      const last = await new Client(app.url, 'owner', address).post('/api/auth/login', { json: { email: account.email, password: PASSWORD } });
      assert.equal(last.status, 200, last.text);
    });
  });

  for (const [value, name, secure] of [['true', '__Host-sid', true], ['false', 'sid', false]] as const) {
    describe(`COOKIE_SECURE=${value} (${platform})`, () => {
      let app: TestApp;
      before(async () => {
        app = await startTestApp(platform, { COOKIE_SECURE: value });
      });
      after(() => app?.close());

      it(`forces the session cookie to ${name}${secure ? ' with Secure, even over plain HTTP' : ' without Secure, even behind a proxy that says https'}`, async () => {
        const account = await registerAccount(app.url);
        const headers: Record<string, string> = secure ? {} : { 'x-forwarded-proto': 'https' };
        const client = new Client(app.url, 'cookie-test', '198.51.100.80');
        const login = await client.post('/api/auth/login', { json: { email: account.email, password: PASSWORD }, headers });
        assert.equal(login.status, 200, login.text);
        const attributes = cookieAttributes(login, name);
        assert.ok(attributes, `a ${name} cookie in ${login.setCookies.join(' | ')}`);
        assert.equal(attributes.has('secure'), secure, login.setCookies.join(' | '));
        assert.equal((await client.get('/api/auth/me', { headers })).status, 200);
      });
    });
  }
}
