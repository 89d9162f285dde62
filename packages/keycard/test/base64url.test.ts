import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { decodeCanonicalBase64url } from '../src/core/base64url.js';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

describe('decodeCanonicalBase64url', () => {
  it('decodes the canonical spelling, for every length of a last group', () => {
    for (const size of [0, 1, 2, 3, 16, 32, 64]) {
      const bytes = randomBytes(size);
      assert.deepEqual(decodeCanonicalBase64url(bytes.toString('base64url')), bytes);
    }
  });

  it('refuses a spelling that differs only in the padding bits of the last character (which Buffer.from accepts)', () => {
    const text = Buffer.alloc(32).toString('base64url'); // ends in 'A': its two low bits are padding
    const respelt = `${text.slice(0, -1)}${ALPHABET[ALPHABET.indexOf(text.at(-1) as string) | 1]}`;
    assert.deepEqual(Buffer.from(respelt, 'base64url'), Buffer.alloc(32));
    assert.equal(decodeCanonicalBase64url(respelt), null);
  });

  it('refuses padding, standard base64 and other characters', () => {
    for (const text of ['AA==', 'ab+/', 'a b', 'AAAA\n']) assert.equal(decodeCanonicalBase64url(text), null, text);
  });
});
