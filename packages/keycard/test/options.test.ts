import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidOptionsError, MemoryStore, resolveOptions } from '../src/index.js';

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
});
