import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConnectStoreAdapter, InvalidOptionsError, MemoryStore, resolveOptions } from '../src/index.js';

const secret = 's'.repeat(32);

describe('resolveOptions', () => {
  it('applies secure defaults', () => {
    const resolved = resolveOptions({ secrets: secret });
    assert.equal(resolved.idleTimeoutMs, 1_800_000);
    assert.equal(resolved.absoluteTimeoutMs, 43_200_000);
    assert.equal(resolved.touchIntervalMs, 180_000);
    assert.equal(resolved.storeTimeoutMs, 1000);
    assert.equal(resolved.cookie.sameSite, 'Lax');
    assert.equal(resolved.cookie.secure, 'auto');
    assert.equal(resolved.cookie.nameFor(false), 'sid');
    assert.equal(resolved.cookie.nameFor(true), '__Host-sid');
    assert.equal(resolved.bearer, true);
    assert.ok(resolved.store instanceof MemoryStore);
  });

  it('uses __Secure- when a Domain rules out __Host-', () => {
    assert.equal(resolveOptions({ secrets: secret, cookie: { domain: 'example.com' } }).cookie.nameFor(true), '__Secure-sid');
  });

  const failures: Array<[string, Parameters<typeof resolveOptions>[0], string]> = [
    ['a missing secret', { secrets: [] }, 'keycard: secrets is required: give at least one random string of 32 or more characters (e.g. `openssl rand -base64 32`)'],
    ['a short secret', { secrets: ['short'] }, 'keycard: secrets[0] is 5 characters; each secret needs at least 32 random characters'],
    ['a short second secret', { secrets: [secret, 'x'] }, 'keycard: secrets[1] is 1 characters; each secret needs at least 32 random characters'],
    ['an idle timeout longer than the absolute one', { secrets: secret, idleTimeout: 7200, absoluteTimeout: 3600 }, 'keycard: idleTimeout (7200s) is longer than absoluteTimeout (3600s); the idle limit could never apply'],
    ['a negative timeout', { secrets: secret, idleTimeout: -1 }, 'keycard: idleTimeout must be a positive number of seconds, got -1'],
    ['a touch interval as long as the idle timeout', { secrets: secret, idleTimeout: 60, touchInterval: 60 }, 'keycard: touchInterval (60s) must be shorter than idleTimeout (60s)'],
    ['SameSite=None without Secure', { secrets: secret, cookie: { sameSite: 'none', secure: false } }, "keycard: cookie.sameSite 'none' requires a Secure cookie (cookie.secure: true)"],
    ['SameSite=None with Secure only on HTTPS requests', { secrets: secret, cookie: { sameSite: 'none' } }, "keycard: cookie.sameSite 'none' requires a Secure cookie (cookie.secure: true)"],
    ['a bad session limit', { secrets: secret, maxSessionsPerUser: 0 }, 'keycard: maxSessionsPerUser must be a positive integer, got 0'],
    // Finding 13 of issue 13: cookie options were pasted into Set-Cookie unchecked, so a ';' injected attributes.
    ['a cookie.domain that injects an attribute', { secrets: secret, cookie: { domain: 'example.com; SameSite=None' } }, `keycard: cookie.domain "example.com; SameSite=None" is not a host name (letters, digits, '-' and '.' only)`],
    ['a cookie.domain with a space or a port', { secrets: secret, cookie: { domain: 'example.com:8080' } }, `keycard: cookie.domain "example.com:8080" is not a host name (letters, digits, '-' and '.' only)`],
    ['an empty cookie.domain', { secrets: secret, cookie: { domain: '' } }, `keycard: cookie.domain "" is not a host name (letters, digits, '-' and '.' only)`],
    ['a cookie.path that injects an attribute', { secrets: secret, cookie: { path: '/app; Domain=evil.example' } }, `keycard: cookie.path "/app; Domain=evil.example" contains a control character or ';'`],
    ['a cookie.path with a control character', { secrets: secret, cookie: { path: '/a\r\nSet-Cookie: x=1' } }, `keycard: cookie.path "/a\\r\\nSet-Cookie: x=1" contains a control character or ';'`],
    ['a relative cookie.path', { secrets: secret, cookie: { path: 'app' } }, `keycard: cookie.path must start with '/', got "app"`],
    ['a cookie.name with a separator', { secrets: secret, cookie: { name: 'sid;Domain=x' } }, 'keycard: cookie.name "sid;Domain=x" is not a valid cookie name (RFC 9110 token characters only)'],
    ['a __Host- cookie.name that can be sent without Secure', { secrets: secret, cookie: { name: '__Host-sid' } }, 'keycard: cookie.name "__Host-sid" breaks the cookie prefix rules when the request is plain HTTP: a __Host- cookie must be Secure, have Path=/ and no Domain'],
    ['a __Host- cookie.name with a Domain', { secrets: secret, cookie: { name: '__Host-sid', secure: true, domain: 'example.com' } }, 'keycard: cookie.name "__Host-sid" breaks the cookie prefix rules: a __Host- cookie must be Secure, have Path=/ and no Domain'],
    ['a maxSessionsPerUser of Infinity spelled as a string', { secrets: secret, maxSessionsPerUser: '50' as unknown as number }, 'keycard: maxSessionsPerUser must be a positive integer, got 50'],
  ];
  for (const [what, options, message] of failures) {
    it(`rejects ${what} with a clear message`, () => {
      assert.throws(() => resolveOptions(options), (error: unknown) => {
        assert.ok(error instanceof InvalidOptionsError);
        assert.equal(error.code, 'KEYCARD_INVALID_OPTIONS');
        assert.equal(error.message, message);
        return true;
      });
    });
  }

  it('accepts a valid cookie.domain (leading dot allowed) and a cookie.path of path characters', () => {
    const resolved = resolveOptions({ secrets: secret, cookie: { domain: '.Example.co.uk', path: '/app/v1-beta' } });
    assert.equal(resolved.cookie.domain, '.Example.co.uk');
    assert.equal(resolved.cookie.path, '/app/v1-beta');
  });

  // Finding 12 of issue 13: no default cap, so one account could hold any number of sessions (300 bearer tokens).
  it('caps sessions per user at 50 by default; Infinity is an explicit choice', () => {
    assert.equal(resolveOptions({ secrets: secret }).maxSessionsPerUser, 50);
    assert.equal(resolveOptions({ secrets: secret, maxSessionsPerUser: Infinity }).maxSessionsPerUser, Infinity);
    assert.equal(resolveOptions({ secrets: secret, maxSessionsPerUser: 3 }).maxSessionsPerUser, 3);
  });

  it('leaves the cap off by default for a store without a per-user index (express-session stores)', () => {
    const store = new ConnectStoreAdapter({ get: () => undefined, set: () => undefined, destroy: () => undefined } as never);
    assert.equal(resolveOptions({ secrets: secret, store }).maxSessionsPerUser, Infinity);
  });
});
