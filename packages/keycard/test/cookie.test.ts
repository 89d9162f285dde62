import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_COOKIE_AGE_SECONDS, readCookie, serializeCookie } from '../src/index.js';

const base = { path: '/', secure: true, httpOnly: true, sameSite: 'Lax' } as const;

describe('readCookie', () => {
  it('finds the named cookie among others', () => {
    assert.equal(readCookie('a=1; sid=abc; b=2', 'sid'), 'abc');
    assert.equal(readCookie('sid=abc', 'sid'), 'abc');
    assert.equal(readCookie('  sid = abc ;', 'sid'), 'abc');
  });

  it('does not confuse prefixed or suffixed names', () => {
    assert.equal(readCookie('__Host-sid=x; xsid=y; sidx=z', 'sid'), null);
    assert.equal(readCookie('sid=x; __Host-sid=y', '__Host-sid'), 'y');
  });

  it('treats a repeated name as absent: a sibling domain may have planted one', () => {
    assert.equal(readCookie('sid=a; sid=b', 'sid'), null);
  });

  it('returns null for missing, empty and oversized headers', () => {
    assert.equal(readCookie(undefined, 'sid'), null);
    assert.equal(readCookie('', 'sid'), null);
    assert.equal(readCookie(`sid=${'x'.repeat(20_000)}`, 'sid'), null);
  });
});

describe('serializeCookie', () => {
  it('writes the secure defaults', () => {
    assert.equal(serializeCookie('__Host-sid', 'v', base), '__Host-sid=v; Path=/; HttpOnly; Secure; SameSite=Lax');
  });

  it('writes Max-Age for persistent cookies and caps it at 400 days (rfc6265bis)', () => {
    assert.match(serializeCookie('sid', 'v', { ...base, maxAge: 60 }), /; Max-Age=60;/);
    assert.match(serializeCookie('sid', 'v', { ...base, maxAge: 10 ** 9 }), new RegExp(`Max-Age=${MAX_COOKIE_AGE_SECONDS};`));
  });

  it('clears with Max-Age=0 and an Expires in the past', () => {
    assert.match(serializeCookie('sid', '', { ...base, maxAge: 0 }), /^sid=; Path=\/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT;/);
  });

  it('refuses a __Host- cookie that is not Secure, has a Domain or a narrower Path', () => {
    assert.throws(() => serializeCookie('__Host-sid', 'v', { ...base, secure: false }), /__Host-/);
    assert.throws(() => serializeCookie('__Host-sid', 'v', { ...base, domain: 'example.com' }), /__Host-/);
    assert.throws(() => serializeCookie('__Host-sid', 'v', { ...base, path: '/app' }), /__Host-/);
    assert.throws(() => serializeCookie('__Secure-sid', 'v', { ...base, secure: false }), /__Secure-/);
  });
});
