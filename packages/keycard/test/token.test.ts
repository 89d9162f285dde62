import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TokenSigner, sessionIdOf } from '../src/index.js';
import { cryptoRandom } from '../src/core/clock.js';
import { VerifiedTokenCache } from '../src/core/token-cache.js';

const A = 'a'.repeat(32);
const B = 'b'.repeat(32);

describe('TokenSigner', () => {
  it('newToken — 256 random bits, base64url', () => {
    const signer = new TokenSigner([A]);
    const token = signer.newToken(cryptoRandom);
    assert.match(token, /^[A-Za-z0-9_-]{43}$/);
    assert.equal(Buffer.from(token, 'base64url').length, 32);
    assert.notEqual(token, signer.newToken(cryptoRandom));
  });

  it('verify — accepts what it signed, not stale', () => {
    const signer = new TokenSigner([A]);
    const token = signer.newToken(cryptoRandom);
    assert.deepEqual(signer.verify(signer.sign(token)), { token, stale: false });
  });

  it('verify — accepts an older secret and marks it stale for re-issue', () => {
    const token = new TokenSigner([A]).newToken(cryptoRandom);
    const old = new TokenSigner([A]).sign(token);
    assert.deepEqual(new TokenSigner([B, A]).verify(old), { token, stale: true });
  });

  it('verify — rejects a secret that was dropped from the list', () => {
    const signer = new TokenSigner([A]);
    const value = signer.sign(signer.newToken(cryptoRandom));
    assert.equal(new TokenSigner([B]).verify(value), null);
  });

  it('verify — rejects every single-character change of a signed value', () => {
    const signer = new TokenSigner([A]);
    const value = signer.sign(signer.newToken(cryptoRandom));
    for (let i = 0; i < value.length; i++) {
      const replacement = value[i] === 'A' ? 'B' : 'A';
      const forged = value.slice(0, i) + replacement + value.slice(i + 1);
      assert.equal(signer.verify(forged), null, `position ${i}`);
    }
  });

  it('verify — rejects wrong shapes without throwing', () => {
    const signer = new TokenSigner([A]);
    const value = signer.sign(signer.newToken(cryptoRandom));
    for (const bad of ['', '.', value.slice(1), `${value}x`, value.replace('.', '-'), undefined, null, 'é'.repeat(87)]) {
      assert.equal(signer.verify(bad), null);
    }
  });

  it('verify — rejects a signature with non-canonical base64url padding bits', () => {
    const signer = new TokenSigner([A]);
    const value = signer.sign(signer.newToken(cryptoRandom));
    // The last character of a 43-char base64url block carries 2 padding bits; flipping them keeps the bytes.
    const last = value.at(-1) as string;
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const index = alphabet.indexOf(last);
    const sibling = alphabet[index ^ 1] as string;
    assert.equal(signer.verify(value.slice(0, -1) + sibling), null);
  });

  it('macOf/verifyMac — binds a value to the signing keys', () => {
    const signer = new TokenSigner([A]);
    const mac = signer.macOf('session-1');
    assert.equal(signer.verifyMac('session-1', mac), true);
    assert.equal(signer.verifyMac('session-2', mac), false);
    assert.equal(new TokenSigner([B, A]).verifyMac('session-1', mac), true);
    assert.equal(signer.verifyMac('session-1', 'short'), false);
  });
});

describe('sessionIdOf', () => {
  it('is the SHA-256 of the token, not the token', () => {
    const token = new TokenSigner([A]).newToken(cryptoRandom);
    const id = sessionIdOf(token);
    assert.match(id, /^[A-Za-z0-9_-]{43}$/);
    assert.notEqual(id, token);
    assert.equal(sessionIdOf(token), id);
  });
});

describe('VerifiedTokenCache', () => {
  it('verify — answers a value it verified before with the same token and store id', () => {
    const signer = new TokenSigner([A]);
    const cache = new VerifiedTokenCache(signer);
    const token = signer.newToken(cryptoRandom);
    const value = signer.sign(token);
    const first = cache.verify(value);
    assert.deepEqual(first, { token, id: sessionIdOf(token), stale: false });
    assert.equal(cache.verify(value), first);
  });

  it('verify — never caches a forged value, even one that differs from a cached value by one character', () => {
    const signer = new TokenSigner([A]);
    const cache = new VerifiedTokenCache(signer);
    const value = signer.sign(signer.newToken(cryptoRandom));
    assert.ok(cache.verify(value));
    const forged = value.slice(0, -1) + (value.endsWith('A') ? 'Q' : 'A');
    assert.equal(cache.verify(forged), null);
    assert.equal(cache.verify(forged), null);
  });

  it('verify — stays bounded: past maxEntries it starts over and still verifies', () => {
    const signer = new TokenSigner([A]);
    const cache = new VerifiedTokenCache(signer, 2);
    const values = Array.from({ length: 5 }, () => signer.sign(signer.newToken(cryptoRandom)));
    for (const value of values) assert.ok(cache.verify(value));
    for (const value of values) assert.ok(cache.verify(value));
  });
});
