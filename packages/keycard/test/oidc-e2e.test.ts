import 'reflect-metadata';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Controller, Get, Injectable, Query, Req } from '@nestjs/common';
import type { Principal, Session as KeycardSession } from '../src/index.js';
import { CurrentUser, Public, Session, SessionModule } from '../src/nest/index.js';
import { OidcSignIn, OidcSignInError, type OidcIdentity } from '../src/oidc/index.js';
import { manualClock } from './support/clock.js';
import { PLATFORMS, expectKeycardError, expectStatus, startApp, type Client, type RunningApp } from './support/http.js';
import { CLIENT_ID, CLIENT_SECRET, startProvider, type TestProvider } from './support/oidc-provider.js';
import { SECRET } from './support/session-app.js';

const FLOW_TIMEOUT = 300;
const IDLE = 1800;

/** The sign-in helper, built once the app's URL is known (the provider must register it). */
@Injectable()
class Oidc {
  signIn!: OidcSignIn;
  /** Every identity principalFor was given, and the accounts it refuses. */
  readonly seen: OidcIdentity[] = [];
  readonly refused = new Set<string>();
}

@Controller()
class OidcController {
  constructor(private readonly oidc: Oidc) {}

  @Public()
  @Get('auth/oidc')
  start(@Session() session: KeycardSession, @Query('returnTo') returnTo?: string): Promise<{ url: string }> {
    return this.oidc.signIn.start(session, { returnTo });
  }

  @Public()
  @Get(['auth/oidc/callback', 'auth/oidc/other-callback'])
  async callback(@Session() session: KeycardSession, @Req() req: { originalUrl?: string; url: string }) {
    const { principal, returnTo } = await this.oidc.signIn.finish(session, req.originalUrl ?? req.url);
    return { user: principal.id, returnTo };
  }

  @Get('me')
  me(@CurrentUser() user: Principal): { user: string } {
    return { user: user.id };
  }
}

for (const platform of PLATFORMS) {
  describe(`OpenID Connect sign-in against oidc-provider, on ${platform}`, () => {
    let running: RunningApp;
    let provider: TestProvider;
    const clock = manualClock();
    const oidc = new Oidc();

    before(async () => {
      running = await startApp(platform, {
        imports: [SessionModule.forRoot({ secrets: SECRET, csrf: false, clock, idleTimeout: IDLE })],
        controllers: [OidcController],
        providers: [{ provide: Oidc, useValue: oidc }],
      });
      const redirectUri = `${running.url}/auth/oidc/callback`;
      // The provider accepts the second path too, so that only keycard's own check can refuse it.
      provider = await startProvider([redirectUri, `${running.url}/auth/oidc/other-callback`]);
      oidc.signIn = new OidcSignIn({
        issuer: provider.issuer,
        clientId: CLIENT_ID,
        clientSecret: CLIENT_SECRET,
        redirectUri,
        allowInsecureIssuer: true,
        flowTimeout: FLOW_TIMEOUT,
        clock,
        principalFor: (identity) => {
          oidc.seen.push(identity);
          if (oidc.refused.has(identity.subject)) return null;
          return { id: `oidc:${identity.subject}`, roles: ['user'], authVersion: 1, claims: { email: String(identity.claims['email']) } };
        },
      });
    });
    after(async () => {
      await running.close();
      await provider.close();
    });

    /** Starts a flow in `browser` and walks it through the provider; returns the callback path and query. */
    async function throughProvider(browser: Client, returnTo = '/'): Promise<string> {
      const started = await browser.get(`/auth/oidc?returnTo=${encodeURIComponent(returnTo)}`);
      expectStatus(started, 200);
      return provider.authorize((started.body as { url: string }).url);
    }

    it('signs in under a new session id; the pre-auth session id is dead', async () => {
      const browser = running.client();
      provider.nextAccount = 'alice';
      const callback = await throughProvider(browser, '/profile');
      const preAuth = browser.cookie('sid');
      assert.ok(preAuth, 'the flow lives in a pre-authentication session');
      assert.match(callback, /^\/auth\/oidc\/callback\?code=/);
      const done = await browser.get(callback);
      expectStatus(done, 200);
      assert.deepEqual(done.body, { user: 'oidc:alice', returnTo: '/profile' });
      assert.notEqual(browser.cookie('sid'), preAuth);
      assert.deepEqual((await browser.get('/me')).body, { user: 'oidc:alice' });
      assert.equal(oidc.seen.at(-1)?.claims['email'], 'alice@example.com');
      const old = running.client();
      old.setCookie('sid', preAuth);
      expectStatus(await old.get('/me'), 401);
    });

    it('parallel flows in one browser do not overwrite each other', async () => {
      const browser = running.client();
      provider.nextAccount = 'bob';
      const first = await throughProvider(browser, '/first');
      const second = await throughProvider(browser, '/second');
      const third = await throughProvider(browser, '/third');
      assert.deepEqual((await browser.get(first)).body, { user: 'oidc:bob', returnTo: '/first' });
      assert.deepEqual((await browser.get(third)).body, { user: 'oidc:bob', returnTo: '/third' });
      assert.deepEqual((await browser.get(second)).body, { user: 'oidc:bob', returnTo: '/second' });
    });

    it('a replayed callback is refused, in the same browser and in another', async () => {
      const browser = running.client();
      const callback = await throughProvider(browser);
      expectStatus(await browser.get(callback), 200);
      const tokenRequests = provider.tokenRequests();
      expectKeycardError(await browser.get(callback), 400, 'KEYCARD_OIDC_FAILED');
      const attacker = running.client();
      expectKeycardError(await attacker.get(callback), 400, 'KEYCARD_OIDC_FAILED');
      expectStatus(await attacker.get('/me'), 401);
      assert.equal(provider.tokenRequests(), tokenRequests, 'a replay never reaches the token endpoint');
    });

    it('a wrong state is refused and signs nobody in; the real callback still works', async () => {
      const browser = running.client();
      const callback = await throughProvider(browser);
      const forged = callback.replace(/state=[^&]+/, 'state=forged-state-value');
      expectKeycardError(await browser.get(forged), 400, 'KEYCARD_OIDC_FAILED');
      expectKeycardError(await browser.get(callback.replace(/&?state=[^&]+/, '')), 400, 'KEYCARD_OIDC_FAILED');
      expectStatus(await browser.get('/me'), 401);
      expectStatus(await browser.get(callback), 200);
    });

    it('a callback in a browser that holds no verifier for it (code injection, login CSRF) is refused', async () => {
      const victim = running.client();
      const attackerCallback = await throughProvider(running.client());
      expectKeycardError(await victim.get(attackerCallback), 400, 'KEYCARD_OIDC_FAILED');
      expectStatus(await victim.get('/me'), 401);
    });

    it('a code exchanged without its PKCE verifier is refused by the provider', async () => {
      const browser = running.client();
      const callback = await throughProvider(browser);
      const code = new URL(callback, running.url).searchParams.get('code') ?? '';
      const response = await fetch(`${provider.issuer}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'authorization_code',
          code,
          redirect_uri: `${running.url}/auth/oidc/callback`,
          client_id: CLIENT_ID,
          client_secret: CLIENT_SECRET,
        }),
      });
      assert.equal(response.status, 400);
      assert.equal(((await response.json()) as { error: string }).error, 'invalid_grant');
    });

    it('a callback after the flow timed out is refused', async () => {
      const browser = running.client();
      const callback = await throughProvider(browser);
      clock.advance(FLOW_TIMEOUT * 1000);
      expectKeycardError(await browser.get(callback), 400, 'KEYCARD_OIDC_FAILED');
      expectStatus(await browser.get('/me'), 401);
    });

    it('a callback after the pre-auth session expired is refused', async () => {
      const browser = running.client();
      const callback = await throughProvider(browser);
      clock.advance(IDLE * 1000 + 1);
      expectKeycardError(await browser.get(callback), 400, 'KEYCARD_OIDC_FAILED');
      expectStatus(await browser.get('/me'), 401);
    });

    it('a callback at another URL than the registered redirect URI is refused, even if the provider would allow it', async () => {
      const browser = running.client();
      const callback = await throughProvider(browser);
      expectKeycardError(await browser.get(callback.replace('/callback?', '/other-callback?')), 400, 'KEYCARD_OIDC_FAILED');
      expectStatus(await browser.get('/me'), 401);
    });

    it('an error answer from the provider is refused', async () => {
      const browser = running.client();
      const started = await browser.get('/auth/oidc');
      const state = new URL((started.body as { url: string }).url).searchParams.get('state') ?? '';
      expectKeycardError(await browser.get(`/auth/oidc/callback?error=access_denied&state=${state}`), 400, 'KEYCARD_OIDC_FAILED');
    });

    it('principalFor returning null refuses the sign-in', async () => {
      const browser = running.client();
      provider.nextAccount = 'mallory';
      oidc.refused.add('mallory');
      const callback = await throughProvider(browser);
      expectKeycardError(await browser.get(callback), 400, 'KEYCARD_OIDC_FAILED');
      expectStatus(await browser.get('/me'), 401);
    });

    it('a non-local returnTo becomes /', async () => {
      const browser = running.client();
      provider.nextAccount = 'alice';
      const callback = await throughProvider(browser, '//evil.example/x');
      assert.deepEqual((await browser.get(callback)).body, { user: 'oidc:alice', returnTo: '/' });
    });
  });
}

describe('OidcSignIn', () => {
  it('refuses an unreachable provider with 503-mapped OidcUnavailableError, and retries discovery later', async () => {
    const signIn = new OidcSignIn({
      issuer: 'http://127.0.0.1:9/',
      clientId: 'x',
      redirectUri: 'http://127.0.0.1/cb',
      allowInsecureIssuer: true,
      providerTimeout: 2,
      principalFor: () => null,
    });
    const session = { set: () => undefined, get: () => undefined } as unknown as KeycardSession;
    await assert.rejects(signIn.start(session), (error: unknown) => (error as { code?: string }).code === 'KEYCARD_OIDC_UNAVAILABLE');
    await assert.rejects(signIn.start(session), (error: unknown) => (error as { code?: string }).code === 'KEYCARD_OIDC_UNAVAILABLE');
  });

  it('validates its options at construction', () => {
    const base = { issuer: 'https://id.example', clientId: 'x', redirectUri: 'https://app.example/cb', principalFor: () => null };
    assert.throws(() => new OidcSignIn({ ...base, issuer: 'http://id.example' }), /https: URL/);
    assert.throws(() => new OidcSignIn({ ...base, redirectUri: 'https://app.example/cb?x=1' }), /no query/);
    assert.throws(() => new OidcSignIn({ ...base, scope: 'email' }), /include 'openid'/);
    assert.throws(() => new OidcSignIn({ ...base, flowTimeout: 0 }), /flowTimeout/);
    assert.ok(new OidcSignIn(base));
    assert.ok(OidcSignInError);
  });
});
