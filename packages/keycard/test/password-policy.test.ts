import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkPassword, DEFAULT_PASSWORD_POLICY, normalizePassword } from '../src/password/index.js';
import { countCodePoints } from '../src/password/policy.js';

describe('checkPassword', () => {
  it('checkPassword — accepts 8 to 128 characters', () => {
    assert.deepEqual(checkPassword('12345678'), { ok: true });
    assert.deepEqual(checkPassword('a'.repeat(128)), { ok: true });
    assert.deepEqual(DEFAULT_PASSWORD_POLICY, { minLength: 8, maxLength: 128 });
  });

  it('checkPassword — refuses 7 and 129 characters with a message for the user', () => {
    assert.deepEqual(checkPassword('1234567'), {
      ok: false,
      problem: 'too-short',
      message: 'password must be at least 8 characters',
    });
    assert.deepEqual(checkPassword('a'.repeat(129)), {
      ok: false,
      problem: 'too-long',
      message: 'password must be at most 128 characters',
    });
  });

  it('checkPassword — counts code points, not UTF-16 units', () => {
    assert.equal(checkPassword('🔑🔑🔑🔑🔑🔑🔑').ok, false);
    assert.equal(checkPassword('🔑🔑🔑🔑🔑🔑🔑🔑').ok, true);
    assert.equal(checkPassword('🔑'.repeat(128)).ok, true);
    assert.deepEqual(checkPassword('🔑'.repeat(129)), checkPassword('a'.repeat(129)));
  });

  it('checkPassword — allows every character, whitespace and any script included', () => {
    for (const password of ['        ', 'pass word', '\tTabbed\n', 'пароль123', '密码密码密码密码', 'ﷺﷺﷺﷺﷺﷺﷺﷺ']) {
      assert.deepEqual(checkPassword(password), { ok: true }, JSON.stringify(password));
    }
  });

  it('checkPassword — refuses unpaired surrogates, which the hasher would turn into U+FFFD', () => {
    assert.equal(checkPassword('abcdefg\ud800').ok, false);
    assert.deepEqual(checkPassword('abcdefgh\udc00'), {
      ok: false,
      problem: 'malformed',
      message: 'password contains invalid Unicode (an unpaired surrogate)',
    });
  });

  it('checkPassword — refuses non-strings', () => {
    for (const value of [undefined, null, 12345678, ['12345678'], { length: 9 }]) {
      assert.deepEqual(checkPassword(value), { ok: false, problem: 'not-a-string', message: 'password must be a string' });
    }
  });

  it('checkPassword — stops counting past the maximum, so huge input costs no more than 129 characters', () => {
    assert.equal(countCodePoints('x'.repeat(100_000), 128), 129);
    assert.equal(countCodePoints('🔑'.repeat(5), 128), 5);
    assert.equal(checkPassword('x'.repeat(10_000_000)).ok, false);
  });

  it('checkPassword — honours a custom policy', () => {
    assert.equal(checkPassword('1234567890', { minLength: 12, maxLength: 64 }).ok, false);
    assert.equal(checkPassword('123456789012', { minLength: 12, maxLength: 64 }).ok, true);
  });

  it('normalizePassword — NFKC: composes marks and folds compatibility forms', () => {
    assert.equal(normalizePassword('cafe\u0301'), 'caf\u00e9');
    assert.equal(normalizePassword('\uff21\uff22'), 'AB');
    assert.equal(normalizePassword('  x  '), '  x  ');
  });
});
