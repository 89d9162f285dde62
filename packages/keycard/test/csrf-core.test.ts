import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TokenSigner, cryptoRandom } from '../src/index.js';
import { CsrfTokens, isCrossSite, normalizeOrigin, requestOrigin, type CsrfOriginPolicy, type FetchSite } from '../src/core/csrf.js';
import { resolveCsrfOptions } from '../src/nest/csrf/csrf.options.js';

const KEY_A = 'csrf-test-key-a-0123456789-abcdefghij';
const KEY_B = 'csrf-test-key-b-0123456789-abcdefghij';

function tokens(...secrets: string[]): CsrfTokens {
  return new CsrfTokens(new TokenSigner(secrets), cryptoRandom);
}

/** Flips one character in the middle of a token, keeping it base64url. */
function tamper(token: string): string {
  const i = Math.floor(token.length / 2);
  return `${token.slice(0, i)}${token[i] === 'A' ? 'B' : 'A'}${token.slice(i + 1)}`;
}

describe('CsrfTokens', () => {
  describe('when a session is signed in', () => {
    const csrf = tokens(KEY_A);

    it('verifies its own token, masked differently on every call (BREACH)', () => {
      const first = csrf.forSession('handle-1', 'alice');
      const second = csrf.forSession('handle-1', 'alice');
      assert.notEqual(first, second);
      assert.match(first, /^[A-Za-z0-9_-]{86}$/);
      assert.ok(csrf.verifySession(first, 'handle-1', 'alice'));
      assert.ok(csrf.verifySession(second, 'handle-1', 'alice'));
    });

    it('refuses the token of another session, of another user on the same session, and tampered tokens', () => {
      const token = csrf.forSession('handle-1', 'alice');
      assert.equal(csrf.verifySession(token, 'handle-2', 'alice'), false);
      assert.equal(csrf.verifySession(token, 'handle-1', 'bob'), false);
      assert.equal(csrf.verifySession(tamper(token), 'handle-1', 'alice'), false);
      assert.equal(csrf.verifySession('', 'handle-1', 'alice'), false);
      assert.equal(csrf.verifySession(`${token}x`, 'handle-1', 'alice'), false);
    });

    it('refuses a token made under a key it does not know, and keeps accepting an old key after rotation', () => {
      const old = tokens(KEY_B).forSession('h', 'u');
      assert.equal(csrf.verifySession(old, 'h', 'u'), false);
      assert.ok(tokens(KEY_A, KEY_B).verifySession(old, 'h', 'u'));
    });
  });

  describe('when nobody is signed in (double-submit)', () => {
    const csrf = tokens(KEY_A);

    it('issues a signed cookie whose nonce the token is bound to', () => {
      const cookie = csrf.newCookie();
      assert.match(cookie.value, /^[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{43}$/);
      assert.equal(csrf.nonceOf(cookie.value), cookie.nonce);
      assert.ok(csrf.verifyNonce(csrf.forNonce(cookie.nonce), cookie.nonce));
      assert.equal(csrf.verifyNonce(csrf.forNonce(cookie.nonce), csrf.newCookie().nonce), false);
    });

    it('refuses forged cookies: a bad MAC, a planted nonce without MAC, garbage', () => {
      const cookie = csrf.newCookie();
      assert.equal(csrf.nonceOf(tamper(cookie.value)), null);
      assert.equal(csrf.nonceOf(`${cookie.nonce}.${cookie.nonce}`), null);
      assert.equal(csrf.nonceOf(cookie.nonce), null);
      assert.equal(csrf.nonceOf('a.b'), null);
      assert.equal(csrf.nonceOf(null), null);
    });

    it('keeps the purposes apart: the cookie MAC is not a token, a session token is not a pre-session token', () => {
      const cookie = csrf.newCookie();
      const cookieMac = cookie.value.slice(44);
      const zeroPad = Buffer.alloc(32);
      const unmaskedCookieMac = Buffer.concat([zeroPad, Buffer.from(cookieMac, 'base64url')]).toString('base64url');
      assert.equal(csrf.verifyNonce(unmaskedCookieMac, cookie.nonce), false);
      assert.equal(csrf.verifyNonce(csrf.forSession(cookie.nonce, ''), cookie.nonce), false);
    });
  });
});

describe('origins', () => {
  it('normalizes an Origin header and refuses what is not exactly an origin', () => {
    assert.equal(normalizeOrigin('https://Example.COM:443'), 'https://example.com');
    assert.equal(normalizeOrigin('http://127.0.0.1:3000'), 'http://127.0.0.1:3000');
    for (const bad of ['null', '', 'https://example.com/', 'https://example.com/path', 'ftp://example.com', 'https://u:p@example.com', 'https://a.com, https://b.com']) {
      assert.equal(normalizeOrigin(bad), null, bad);
    }
  });

  it("computes the request's own origin from scheme and host, refusing hosts that are not plain", () => {
    assert.equal(requestOrigin('https', 'app.example.com'), 'https://app.example.com');
    assert.equal(requestOrigin('http', '127.0.0.1:8080'), 'http://127.0.0.1:8080');
    assert.equal(requestOrigin('https', '[::1]:8443'), 'https://[::1]:8443');
    assert.equal(requestOrigin('https', 'evil.com@app.example.com'), null);
    assert.equal(requestOrigin('https', 'app.example.com/x'), null);
    assert.equal(requestOrigin('https', undefined), null);
    assert.equal(requestOrigin('gopher', 'app.example.com'), null);
  });

  describe('isCrossSite', () => {
    const policy: CsrfOriginPolicy = {
      allowedOrigins: new Set(['https://admin.example.com']),
      allowedFetchSites: new Set<FetchSite>(['same-origin', 'same-site', 'none']),
    };
    const self = 'https://app.example.com';
    const table: ReadonlyArray<[string, string | undefined, string | undefined, boolean]> = [
      ['no headers (non-browser client)', undefined, undefined, false],
      ['same origin', self, undefined, false],
      ['same origin, same-origin fetch', self, 'same-origin', false],
      ['another origin', 'https://evil.example', undefined, true],
      ['a sibling subdomain', 'https://evil.example.com', 'same-site', true],
      ['an allow-listed origin, cross-site by fetch metadata', 'https://admin.example.com', 'cross-site', false],
      ['Origin: null (sandboxed frame, privacy redirect)', 'null', undefined, true],
      ['same origin over http (downgrade)', 'http://app.example.com', undefined, true],
      ['no Origin, cross-site fetch', undefined, 'cross-site', true],
      ['no Origin, user-typed navigation', undefined, 'none', false],
      ['no Origin, same-site fetch', undefined, 'same-site', false],
      ['no Origin, unknown fetch site', undefined, 'bogus', true],
    ];
    for (const [name, origin, fetchSite, expected] of table) {
      it(`${expected ? 'refuses' : 'lets through'} ${name}`, () => {
        assert.equal(isCrossSite({ origin, fetchSite, self }, policy), expected);
      });
    }

    it('refuses everything with an Origin when the request origin is unknown (garbage Host)', () => {
      assert.equal(isCrossSite({ origin: self, fetchSite: undefined, self: null }, policy), true);
    });
  });
});

describe('CsrfModule options', () => {
  it('applies the strict defaults', () => {
    const resolved = resolveCsrfOptions({});
    assert.equal(resolved.guard, 'global');
    assert.deepEqual([...resolved.allowedOrigins], []);
    assert.deepEqual([...resolved.allowedFetchSites], ['same-origin', 'same-site', 'none']);
    assert.equal(resolved.cookieNameFor(false), 'csrf');
    assert.equal(resolved.cookieNameFor(true), '__Host-csrf');
  });

  it('normalizes allowed origins', () => {
    assert.deepEqual([...resolveCsrfOptions({ allowedOrigins: ['HTTPS://Admin.Example.com:443'] }).allowedOrigins], [
      'https://admin.example.com',
    ]);
  });

  it('refuses bad options at startup with messages that say what to change', () => {
    assert.throws(() => resolveCsrfOptions({ allowedOrigins: ['https://admin.example.com/'] }), {
      code: 'KEYCARD_INVALID_OPTIONS',
      message:
        'keycard: csrf allowedOrigins[0] "https://admin.example.com/" is not an origin: give scheme, host and optional port only, like "https://admin.example.com"',
    });
    assert.throws(() => resolveCsrfOptions({ allowedFetchSites: ['same-origin', 'cross-origin' as FetchSite] }), {
      message: `keycard: csrf allowedFetchSites contains "cross-origin"; the values are 'same-origin', 'same-site', 'cross-site', 'none'`,
    });
    assert.throws(() => resolveCsrfOptions({ cookieName: '__Host-x' }), {
      message: 'keycard: csrf cookieName "__Host-x" must not carry a prefix: __Host- is added when the cookie is Secure',
    });
    assert.throws(() => resolveCsrfOptions({ cookieName: 'a b' }), { message: 'keycard: csrf cookieName "a b" is not a valid cookie name' });
    assert.throws(() => resolveCsrfOptions({ guard: 'local' as 'global' }), {
      message: `keycard: csrf guard must be 'global' or 'none', got "local"`,
    });
  });
});
