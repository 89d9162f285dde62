import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  AppCookies,
  CookieTooLargeError,
  InvalidCookieError,
  InvalidOptionsError,
  TokenSigner,
  checkCookieDomain,
  checkCookiePath,
  checkMaxAge,
  cryptoRandom,
  parseCookies,
  resolveAppCookieOptions,
  type AppCookieOptions,
  type CookieJar,
} from '../src/index.js';
import { parseSetCookie, type SetCookie } from './support/http.js';
import { manualClock, type ManualClock } from './support/clock.js';

const OLD = 'old-secret-0123456789-abcdefghijklmn';
const NEW = 'new-secret-0123456789-abcdefghijklmn';

interface Harness {
  readonly clock: ManualClock;
  /** A jar over `cookieHeader`; what it writes lands in `written`. */
  jar(cookieHeader?: string, options?: { secure?: boolean }): { jar: CookieJar; written: SetCookie[] };
}

function harness(secrets: readonly string[] = [NEW], options: AppCookieOptions = {}, clock = manualClock()): Harness {
  const cookies = new AppCookies(
    resolveAppCookieOptions(options),
    new TokenSigner(secrets),
    clock,
    cryptoRandom,
    new Set(['sid', '__Host-sid', 'csrf', '__Host-csrf']),
    (secure) => secure,
  );
  return {
    clock,
    jar(cookieHeader, { secure = false } = {}) {
      const written: SetCookie[] = [];
      const jar = cookies.jar({ cookieHeader, requestSecure: secure }, (name, header) => {
        const parsed = parseSetCookie(header);
        assert.equal(parsed.name, name);
        const at = written.findIndex((cookie) => cookie.name === name);
        if (at >= 0) written.splice(at, 1);
        written.push(parsed);
      });
      return { jar, written };
    },
  };
}

/** What the browser would send back after `written`. */
function header(written: readonly SetCookie[]): string {
  return written.map((cookie) => `${cookie.name}=${cookie.value}`).join('; ');
}

describe('parseCookies', () => {
  it('gives every cookie in an object without a prototype', () => {
    const cookies = parseCookies('a=1; __proto__=x; b = 2 ');
    assert.equal(Object.getPrototypeOf(cookies), null);
    assert.deepEqual({ ...cookies }, { a: '1', ['__proto__']: 'x', b: '2' });
  });

  it('leaves out a name sent twice (which one the browser meant cannot be told)', () => {
    assert.deepEqual({ ...parseCookies('a=1; b=2; a=3') }, { b: '2' });
  });
});

describe('cookie attribute validators (rfc6265bis)', () => {
  it('when a path carries a ; or a control character, it is refused', () => {
    assert.equal(checkCookiePath('/'), null);
    assert.match(checkCookiePath('/a; Domain=evil.example') ?? '', /control character or ';'/);
    assert.match(checkCookiePath('/a\r\nX: y') ?? '', /control character/);
    assert.match(checkCookiePath('a') ?? '', /must start with '\/'/);
  });

  it('when a domain is not a host name, it is refused', () => {
    assert.equal(checkCookieDomain('example.com'), null);
    assert.equal(checkCookieDomain('.example.com'), null);
    assert.match(checkCookieDomain('example.com; Secure') ?? '', /not a host name/);
    assert.match(checkCookieDomain('exa mple.com') ?? '', /not a host name/);
    assert.match(checkCookieDomain('-bad.com') ?? '', /not a host name/);
  });

  it('when Max-Age is negative, fractional or past 400 days, it is refused', () => {
    assert.equal(checkMaxAge(0), null);
    assert.equal(checkMaxAge(400 * 86_400), null);
    for (const bad of [-1, 1.5, 400 * 86_400 + 1, Number.NaN, '60']) assert.match(checkMaxAge(bad) ?? '', /maxAge must be/);
  });

  it('when app-cookie options are bad, startup fails with a message naming the option', () => {
    assert.throws(() => resolveAppCookieOptions({ path: '/x;y' }), (e: unknown) => e instanceof InvalidOptionsError && /cookies\.path/.test(e.message));
    assert.throws(() => resolveAppCookieOptions({ domain: 'a b' }), /cookies\.domain/);
    assert.throws(() => resolveAppCookieOptions({ sameSite: 'loose' as 'lax' }), /cookies\.sameSite must be/);
  });
});

describe('CookieJar — plain cookies', () => {
  it('writes the secure defaults: HttpOnly, SameSite=Lax, Path=/; Secure and __Host- over HTTPS', () => {
    const { jar, written } = harness().jar(undefined, { secure: true });
    jar.set('theme', 'dark');
    assert.equal(written[0]?.raw, '__Host-theme=dark; Path=/; HttpOnly; Secure; SameSite=Lax');
    const plain = harness().jar();
    plain.jar.set('theme', 'dark', { maxAge: 60 });
    assert.equal(plain.written[0]?.raw, 'theme=dark; Path=/; Max-Age=60; HttpOnly; SameSite=Lax');
  });

  it('reads the prefixed cookie under its plain name, values URI-decoded', () => {
    const { jar } = harness().jar('__Host-theme=dark%20blue; lang=fr', { secure: true });
    assert.equal(jar.get('theme'), 'dark blue');
    assert.equal(jar.get('lang'), 'fr');
    assert.deepEqual({ ...jar.all() }, { theme: 'dark blue', lang: 'fr' });
  });

  it('encodes what a cookie cannot carry', () => {
    const { jar, written } = harness().jar();
    jar.set('note', 'a; b=c\r\n');
    assert.equal(written[0]?.value, 'a%3B%20b%3Dc%0D%0A');
    assert.equal(harness().jar(header(written)).jar.get('note'), 'a; b=c\r\n');
  });

  it('never shows or writes keycard’s own cookies', () => {
    const { jar } = harness().jar('sid=token.sig; __Host-csrf=n; theme=dark', { secure: true });
    assert.deepEqual({ ...jar.all() }, { theme: 'dark' });
    assert.throws(() => jar.get('sid'), InvalidCookieError);
    assert.throws(() => jar.set('csrf', 'x'), /keycard's own/);
  });

  it('refuses bad attributes with InvalidCookieError and writes nothing', () => {
    const { jar, written } = harness().jar();
    assert.throws(() => jar.set('bad name', 'x'), InvalidCookieError);
    assert.throws(() => jar.set('a', 'x', { path: '/x; Domain=evil.example' }), /control character or ';'/);
    assert.throws(() => jar.set('a', 'x', { maxAge: -5 }), /maxAge must be/);
    assert.throws(() => jar.set('a', 'x', { sameSite: 'none' }), /SameSite=None cookie must be Secure/);
    assert.throws(() => jar.set('__Host-a', 'x'), /__Host- cookie must be Secure/);
    assert.deepEqual(written, []);
  });

  it('with a path or domain, drops the __Host- prefix (it forbids both)', () => {
    const { jar, written } = harness().jar(undefined, { secure: true });
    jar.set('pref', '1', { path: '/admin' });
    assert.equal(written[0]?.raw, 'pref=1; Path=/admin; HttpOnly; Secure; SameSite=Lax');
  });

  it('clears with Max-Age=0 under the same wire name', () => {
    const { jar, written } = harness().jar('__Host-theme=dark', { secure: true });
    jar.clear('theme');
    assert.equal(written[0]?.name, '__Host-theme');
    assert.equal(written[0]?.attributes.get('max-age'), '0');
  });

  it('refuses a cookie past 4096 bytes instead of letting the browser drop it', () => {
    const { jar } = harness().jar();
    assert.throws(() => jar.set('big', 'x'.repeat(4100)), (e: unknown) => e instanceof CookieTooLargeError && e.code === 'KEYCARD_COOKIE_TOO_LARGE');
  });
});

describe('CookieJar — signed cookies', () => {
  it('round-trips a readable value', () => {
    const h = harness();
    const { jar, written } = h.jar();
    jar.setSigned('cart', 'item-42', { maxAge: 600 });
    assert.match(written[0]?.value ?? '', /^item-42\./, 'the value stays readable: signed is not encrypted');
    assert.equal(h.jar(header(written)).jar.getSigned('cart'), 'item-42');
  });

  it('when the value, the meta or the MAC is changed, the read is null', () => {
    const h = harness();
    const { jar, written } = h.jar();
    jar.setSigned('role', 'user');
    const value = written[0]?.value ?? '';
    const tampered = [
      value.replace(/^user/, 'admin'),
      value.replace('.hl.', '.-l.'),
      `${value.slice(0, -1)}${value.endsWith('A') ? 'B' : 'A'}`,
      value.slice(0, -1),
      'user',
    ];
    for (const bad of tampered) assert.equal(h.jar(`role=${bad}`).jar.getSigned('role'), null, bad);
  });

  it('a value signed for one name does not verify as another', () => {
    const h = harness();
    const { jar, written } = h.jar();
    jar.setSigned('a', 'x');
    assert.equal(h.jar(`b=${written[0]?.value}`).jar.getSigned('b'), null);
  });

  it('a copy kept past Max-Age is refused server-side', () => {
    const h = harness();
    const { jar, written } = h.jar();
    jar.setSigned('cart', 'x', { maxAge: 60 });
    h.clock.advance(59_000);
    assert.equal(h.jar(header(written)).jar.getSigned('cart'), 'x');
    h.clock.advance(1_000);
    assert.equal(h.jar(header(written)).jar.getSigned('cart'), null);
  });

  it('over HTTPS, only the __Host- cookie counts (a plain one could have been planted)', () => {
    const h = harness();
    const { jar, written } = h.jar();
    jar.setSigned('cart', 'x');
    assert.equal(h.jar(`cart=${written[0]?.value}`, { secure: true }).jar.getSigned('cart'), null);
  });

  it('after key rotation: the old key verifies, the cookie is re-issued under the new one with what is left of its lifetime', () => {
    const clock = manualClock();
    const before = harness([OLD], {}, clock);
    const first = before.jar();
    first.jar.setSigned('cart', 'x', { maxAge: 600, sameSite: 'strict', httpOnly: false });
    clock.advance(100_000);
    const after = harness([NEW, OLD], {}, clock);
    const read = after.jar(header(first.written));
    assert.equal(read.jar.getSigned('cart'), 'x');
    const reissued = read.written[0];
    assert.ok(reissued, 'a re-issued cookie');
    assert.equal(reissued.attributes.get('max-age'), '500');
    assert.equal(reissued.attributes.get('samesite'), 'Strict');
    assert.equal(reissued.attributes.has('httponly'), false);
    assert.equal(harness([NEW], {}, clock).jar(header(read.written)).jar.getSigned('cart'), 'x', 'the new cookie verifies without the old key');
    assert.equal(harness([NEW], {}, clock).jar(header(first.written)).jar.getSigned('cart'), null, 'the old one does not, once the old key is gone');
  });

  it('a value verified under the current key is not re-issued', () => {
    const h = harness([NEW, OLD]);
    const first = h.jar();
    first.jar.setSigned('cart', 'x');
    const read = h.jar(header(first.written));
    assert.equal(read.jar.getSigned('cart'), 'x');
    assert.deepEqual(read.written, []);
  });
});

describe('CookieJar — sealed cookies', () => {
  it('round-trips a JSON value the client cannot read', () => {
    const h = harness();
    const { jar, written } = h.jar();
    jar.setSealed('prefs', { plan: 'pro', seats: 3 });
    assert.doesNotMatch(written[0]?.value ?? '', /pro/);
    assert.deepEqual(h.jar(header(written)).jar.getSealed<{ plan: string; seats: number }>('prefs'), { plan: 'pro', seats: 3 });
  });

  it('when any byte changes, the read is null', () => {
    const h = harness();
    const { jar, written } = h.jar();
    jar.setSealed('prefs', { plan: 'pro' });
    const value = written[0]?.value ?? '';
    for (let i = 0; i < value.length; i += 7) {
      const flipped = `${value.slice(0, i)}${value[i] === 'A' ? 'B' : 'A'}${value.slice(i + 1)}`;
      assert.equal(h.jar(`prefs=${flipped}`).jar.getSealed('prefs'), null, `byte ${i}`);
    }
    assert.equal(h.jar('prefs=garbage').jar.getSealed('prefs'), null);
  });

  it('a value sealed for one name does not open as another, nor as a signed cookie', () => {
    const h = harness();
    const { jar, written } = h.jar();
    jar.setSealed('a', 1);
    assert.equal(h.jar(`b=${written[0]?.value}`).jar.getSealed('b'), null);
    assert.equal(h.jar(`a=${written[0]?.value}`).jar.getSigned('a'), null);
  });

  it('is refused past its Max-Age, and re-sealed under the new key after rotation', () => {
    const clock = manualClock();
    const first = harness([OLD], {}, clock).jar();
    first.jar.setSealed('prefs', 'x', { maxAge: 100 });
    const read = harness([NEW, OLD], {}, clock).jar(header(first.written));
    assert.equal(read.jar.getSealed('prefs'), 'x');
    assert.equal(harness([NEW], {}, clock).jar(header(read.written)).jar.getSealed('prefs'), 'x');
    clock.advance(100_000);
    assert.equal(harness([NEW], {}, clock).jar(header(read.written)).jar.getSealed('prefs'), null);
  });

  it('keys are separate from the session token keys and from signed cookies', () => {
    const signer = new TokenSigner([NEW]);
    const [sign] = signer.deriveKeys('keycard app cookie sign v1');
    const [seal] = signer.deriveKeys('keycard app cookie seal v1');
    assert.notDeepEqual(sign, seal);
    assert.notDeepEqual(sign, Buffer.from(NEW));
  });
});
