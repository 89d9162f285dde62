import 'reflect-metadata';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { registerAccount } from './support/accounts.js';
import { PLATFORMS, startTestApp, uniqueEmail, type TestApp } from './support/test-app.js';

/**
 * The pages in a real browser (Debian's Chromium via playwright-core): sign
 * up, a second device, the device list, revocation, sign-out, flashes.
 */

const CHROMIUM = '/usr/bin/chromium';
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const ARTIFACTS = resolve(dirname(fileURLToPath(import.meta.url)), '../../artifacts');
const PASSWORD = 'browser passphrase 1';

function chromiumSkipReason(): string | false {
  if (existsSync(CHROMIUM)) return false;
  const reason = `Chromium is not installed at ${CHROMIUM} (apt-get install -y chromium)`;
  if (process.env['REQUIRE_SERVICES'] === '1') throw new Error(`REQUIRE_SERVICES=1 but ${reason}`);
  process.stderr.write(`SKIPPED (${reason}); set REQUIRE_SERVICES=1 to make this an error\n`);
  return reason;
}

const skip = chromiumSkipReason();

async function flashText(page: Page): Promise<string> {
  const flash = page.locator('.flash[role="status"]');
  await flash.waitFor({ timeout: 5000 });
  return (await flash.textContent())?.trim() ?? '';
}

async function signIn(page: Page, email: string, password: string, remember = false): Promise<void> {
  await page.fill('input[name="email"]', email);
  await page.fill('input[name="password"]', password);
  if (remember) await page.check('input[name="remember"]');
  await Promise.all([page.waitForURL((url) => !url.pathname.startsWith('/login')), page.click('form.stack button[type="submit"]')]);
}

for (const platform of PLATFORMS) {
  describe(`pages in Chromium on ${platform}`, { skip }, () => {
    let app: TestApp;
    let browser: Browser;
    let first: BrowserContext;
    let second: BrowserContext;
    let pageA: Page;
    let pageB: Page;
    const email = uniqueEmail('browser');
    // Screenshots from one platform are enough: the pages are the same.
    const shoot = async (page: Page, name: string) => {
      if (platform === 'express') await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
    };

    before(async () => {
      await mkdir(ARTIFACTS, { recursive: true });
      [app, browser] = await Promise.all([startTestApp(platform), chromium.launch({ executablePath: CHROMIUM, args: ARGS })]);
      first = await browser.newContext({ viewport: { width: 1100, height: 760 } });
      second = await browser.newContext({ viewport: { width: 390, height: 844 }, userAgent: 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1' });
      pageA = await first.newPage();
      pageB = await second.newPage();
    });
    after(async () => {
      await browser?.close();
      await app?.close();
    });

    it('registers and lands signed in, with a flash', async () => {
      await pageA.goto(`${app.url}/`);
      await shoot(pageA, '01-home-signed-out');
      await pageA.click('a[href="/register"].button');
      await pageA.waitForURL(`${app.url}/register`);
      // Every form carries the CSRF token (here the pre-session one).
      assert.ok((await pageA.inputValue('form.stack input[name="_csrf"]')).length > 20);
      await pageA.fill('input[name="name"]', 'Ada Lovelace');
      await pageA.fill('input[name="email"]', email);
      await pageA.fill('input[name="password"]', PASSWORD);
      await shoot(pageA, '02-register');
      await Promise.all([pageA.waitForURL(`${app.url}/`), pageA.click('form.stack button[type="submit"]')]);
      assert.match(await flashText(pageA), /account is ready/i);
      assert.match((await pageA.textContent('h1')) ?? '', /Hello, Ada Lovelace/);
      await shoot(pageA, '03-home-signed-in');
    });

    it('keeps the session cookie away from scripts (HttpOnly)', async () => {
      const visible = String(await pageA.evaluate('document.cookie'));
      assert.ok(!/(^|;\s*)(__Host-)?sid=/.test(visible), `document.cookie shows: ${visible}`);
      const cookies = await first.cookies();
      const sid = cookies.find((cookie) => cookie.name === 'sid' || cookie.name === '__Host-sid');
      assert.ok(sid, `cookies: ${cookies.map((c) => c.name).join(', ')}`);
      assert.equal(sid.httpOnly, true);
      assert.equal(sid.sameSite, 'Lax');
    });

    it('shows registration errors next to the field', async () => {
      const context = await browser.newContext();
      const page = await context.newPage();
      await page.goto(`${app.url}/register`);
      await page.fill('input[name="name"]', 'Copy Cat');
      await page.fill('input[name="email"]', email.toUpperCase());
      await page.fill('input[name="password"]', 'short');
      await page.click('form.stack button[type="submit"]');
      const passwordError = page.locator('#f-password-error');
      await passwordError.waitFor({ timeout: 5000 });
      assert.match((await passwordError.textContent()) ?? '', /at least 8/);
      await page.fill('input[name="password"]', PASSWORD);
      await page.click('form.stack button[type="submit"]');
      const emailError = page.locator('#f-email-error');
      await emailError.waitFor({ timeout: 5000 });
      assert.match((await emailError.textContent()) ?? '', /already exists/);
      await shoot(page, '04-register-error');
      await context.close();
    });

    it('sends a signed-out visitor to /login?next=… and back after sign-in', async () => {
      await pageB.goto(`${app.url}/profile`);
      await pageB.waitForURL(/\/login\?next=%2Fprofile$/);
      assert.match(await flashText(pageB), /sign in to continue/i);
      await shoot(pageB, '05-login');
      await signIn(pageB, email, PASSWORD, true);
      assert.equal(new URL(pageB.url()).pathname, '/profile');
      assert.match(await flashText(pageB), /signed in/i);
      assert.match((await pageB.textContent('dl.facts')) ?? '', /Ada Lovelace/);
      await shoot(pageB, '06-profile');
    });

    it('lists both devices with this one marked', async () => {
      await pageA.goto(`${app.url}/sessions`);
      const items = pageA.locator('ul.devices li');
      assert.equal(await items.count(), 2);
      const current = pageA.locator('ul.devices li[data-current="true"]');
      assert.equal(await current.count(), 1);
      assert.match((await current.textContent()) ?? '', /This device/);
      assert.match((await pageA.locator('ul.devices li:not([data-current])').textContent()) ?? '', /Safari on iOS/);
      await shoot(pageA, '07-sessions');
    });

    it('revoking the second device signs it out', async () => {
      await Promise.all([
        pageA.waitForURL(`${app.url}/sessions`),
        pageA.click('ul.devices li:not([data-current]) button[type="submit"]'),
      ]);
      assert.match(await flashText(pageA), /session has been signed out/i);
      assert.equal(await pageA.locator('ul.devices li').count(), 1);
      await shoot(pageA, '08-sessions-after-revoke');
      await pageB.goto(`${app.url}/sessions`);
      await pageB.waitForURL(/\/login\?next=%2Fsessions$/);
    });

    it('only follows local ?next= paths', async () => {
      // Its own account: these sign-ins would otherwise push the first device past MAX_SESSIONS_PER_USER.
      const account = await registerAccount(app.url);
      for (const next of ['//evil.example/', '/\\evil.example/', 'https://evil.example/', '/%2F%2Fevil.example']) {
        const context = await browser.newContext();
        const page = await context.newPage();
        await page.goto(`${app.url}/login?next=${encodeURIComponent(next)}`);
        await signIn(page, account.email, account.password);
        const landed = new URL(page.url());
        assert.equal(landed.origin, app.url, `next=${next} led to ${page.url()}`);
        await context.close();
      }
    });

    it('shows a wrong current password next to the field', async () => {
      await pageA.goto(`${app.url}/password`);
      await pageA.fill('input[name="currentPassword"]', 'not the password');
      await pageA.fill('input[name="newPassword"]', 'another passphrase');
      await pageA.click('form.stack button[type="submit"]');
      const error = pageA.locator('#f-currentPassword-error');
      await error.waitFor({ timeout: 5000 });
      await shoot(pageA, '09-password-error');
    });

    it('signs out with the button on every page, with a flash', async () => {
      await pageA.goto(`${app.url}/profile`);
      await Promise.all([pageA.waitForURL(`${app.url}/login?signed-out`), pageA.click('header form[action="/logout"] button')]);
      assert.match(await flashText(pageA), /signed out/i);
      await shoot(pageA, '10-signed-out');
      const cookies = await first.cookies();
      assert.ok(!cookies.some((cookie) => cookie.name.endsWith('sid')), 'the session cookie is gone');
      await pageA.goto(`${app.url}/profile`);
      await pageA.waitForURL(/\/login\?next=%2Fprofile$/);
    });
  });
}
