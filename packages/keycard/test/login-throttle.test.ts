import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  addressBucket,
  InvalidOptionsError,
  LoginThrottle,
  MemoryRateLimitStore,
  normalizeAccount,
  SessionEvents,
  UNPARSABLE_ADDRESS_BUCKET,
  type LoginAttempt,
  type SessionEvent,
  type LoginThrottleOptions,
  type ThrottleDecision,
} from '../src/index.js';
import { manualClock } from './support/clock.js';

const SECOND = 1000;
const MINUTE = 60 * SECOND;

function setup(options: LoginThrottleOptions = {}) {
  const clock = manualClock();
  const store = new MemoryRateLimitStore({ sweepInterval: 0 });
  const throttle = new LoginThrottle({ store, clock, ...options });
  return { clock, store, throttle };
}

function admitted(decision: ThrottleDecision): LoginAttempt {
  assert.equal(decision.allowed, true, `refused: ${JSON.stringify(decision)}`);
  if (!decision.allowed) throw new Error('unreachable');
  return decision.attempt;
}

function refused(decision: ThrottleDecision): { retryAfterSeconds: number; scope: 'account' | 'ip' | 'device' } {
  assert.equal(decision.allowed, false, 'admitted, expected a refusal');
  if (decision.allowed) throw new Error('unreachable');
  return { retryAfterSeconds: decision.retryAfterSeconds, scope: decision.scope };
}

/** `n` failed sign-ins: admitted and never followed by recordSuccess. */
async function fail(throttle: LoginThrottle, account: string, ip: string | null, n: number): Promise<void> {
  for (let i = 0; i < n; i++) admitted(await throttle.check(account, ip));
}

describe('LoginThrottle', () => {
  it('check — admits 5 failures per account in 15 minutes by default, then refuses for the rest of the window', async () => {
    const { throttle, clock } = setup();
    assert.deepEqual(throttle.accountRule, { limit: 5, windowMs: 15 * MINUTE });
    assert.deepEqual(throttle.ipRule, { limit: 50, windowMs: 15 * MINUTE });
    await fail(throttle, 'alice@example.com', '203.0.113.7', 5);
    clock.advance(30 * SECOND);
    assert.deepEqual(refused(await throttle.check('alice@example.com', '203.0.113.7')), {
      retryAfterSeconds: 15 * 60 - 30,
      scope: 'account',
    });
  });

  it('check — past the limit refuses before any verification, so even the right password gets no attempt', async () => {
    const { throttle } = setup({ maxAttempts: 2 });
    await fail(throttle, 'bob@example.com', '198.51.100.1', 2);
    // The caller never reaches verify(), so there is nothing for a correct password to succeed with.
    refused(await throttle.check('bob@example.com', '198.51.100.1'));
    refused(await throttle.check('bob@example.com', '198.51.100.99'));
  });

  it('check — Retry-After counts down and the next attempt is admitted the moment it reaches zero', async () => {
    const { throttle, clock } = setup({ maxAttempts: 3, window: 60 });
    await fail(throttle, 'carol', '192.0.2.1', 3);
    const seen: number[] = [];
    for (let elapsed = 0; elapsed < 60; elapsed += 15) {
      seen.push(refused(await throttle.check('carol', '192.0.2.1')).retryAfterSeconds);
      clock.advance(15 * SECOND);
    }
    assert.deepEqual(seen, [60, 45, 30, 15]);
    clock.advance(-1);
    assert.equal(refused(await throttle.check('carol', '192.0.2.1')).retryAfterSeconds, 1);
    clock.advance(1);
    admitted(await throttle.check('carol', '192.0.2.1'));
  });

  it('check — the window slides: as each old failure expires one more attempt is admitted, not a fresh batch', async () => {
    const { throttle, clock } = setup({ maxAttempts: 3, window: 60 });
    for (let i = 0; i < 3; i++) {
      admitted(await throttle.check('dave', null));
      clock.advance(10 * SECOND);
    }
    // Failures at 0, 10 and 20 s; now 30 s.
    assert.equal(refused(await throttle.check('dave', null)).retryAfterSeconds, 30);
    clock.advance(30 * SECOND);
    admitted(await throttle.check('dave', null));
    assert.equal(refused(await throttle.check('dave', null)).retryAfterSeconds, 10);
  });

  it('check — hammering while refused never extends the block (no permanent lockout)', async () => {
    const { throttle, clock } = setup({ maxAttempts: 2, window: 60 });
    await fail(throttle, 'erin', '192.0.2.2', 2);
    for (let i = 0; i < 59; i++) {
      refused(await throttle.check('erin', '192.0.2.2'));
      clock.advance(SECOND);
    }
    clock.advance(SECOND);
    admitted(await throttle.check('erin', '192.0.2.2'));
  });

  it('check — an account limit holds across addresses (one account attacked from many)', async () => {
    const { throttle } = setup({ maxAttempts: 3 });
    for (let i = 1; i <= 3; i++) admitted(await throttle.check('frank', `203.0.113.${i}`));
    assert.equal(refused(await throttle.check('frank', '203.0.113.200')).scope, 'account');
  });

  it('check — one address across many accounts is limited at 10 × the account limit', async () => {
    const { throttle } = setup({ maxAttempts: 3 });
    for (let i = 0; i < 30; i++) admitted(await throttle.check(`user${i}@example.com`, '198.51.100.7'));
    const blocked = refused(await throttle.check('fresh@example.com', '198.51.100.7'));
    assert.equal(blocked.scope, 'ip');
    assert.equal(blocked.retryAfterSeconds, 15 * 60);
    admitted(await throttle.check('fresh@example.com', '198.51.100.8'));
  });

  it('check — a refusal by the account does not use up the address’s allowance', async () => {
    const { throttle } = setup({ maxAttempts: 1, maxAttemptsPerIp: 3 });
    admitted(await throttle.check('gina', '192.0.2.9'));
    for (let i = 0; i < 10; i++) refused(await throttle.check('gina', '192.0.2.9'));
    admitted(await throttle.check('hank', '192.0.2.9'));
    admitted(await throttle.check('ivan', '192.0.2.9'));
    assert.equal(refused(await throttle.check('judy', '192.0.2.9')).scope, 'ip');
  });

  it('check — refused by the address while the account is also blocked: Retry-After is the later of the two', async () => {
    const { throttle, clock } = setup({ maxAttempts: 2, window: 600, maxAttemptsPerIp: 3, ipWindow: 60 });
    await fail(throttle, 'kate', '192.0.2.10', 2);
    admitted(await throttle.check('other', '192.0.2.10'));
    clock.advance(10 * SECOND);
    assert.deepEqual(refused(await throttle.check('kate', '192.0.2.10')), { retryAfterSeconds: 590, scope: 'ip' });
  });

  it('check — concurrent attempts on one account never get past the limit', async () => {
    const { throttle } = setup({ maxAttempts: 5 });
    const decisions = await Promise.all(Array.from({ length: 40 }, (_, i) => throttle.check('lena', `10.0.0.${i}`)));
    assert.equal(decisions.filter((d) => d.allowed).length, 5);
  });

  it('check — spellings of one account share a counter', async () => {
    const { throttle } = setup({ maxAttempts: 3 });
    admitted(await throttle.check('Mallory@Example.com', null));
    admitted(await throttle.check('  mallory@example.com ', null));
    admitted(await throttle.check('ＭＡＬＬＯＲＹ@example.com', null));
    refused(await throttle.check('mallory@EXAMPLE.COM', null));
  });

  it('check — addresses in one IPv6 /64 share a counter; IPv4-mapped IPv6 is the IPv4 address', async () => {
    const { throttle } = setup({ maxAttempts: 100, maxAttemptsPerIp: 2 });
    admitted(await throttle.check('a1', '2001:db8:1:2::1'));
    admitted(await throttle.check('a2', '2001:db8:1:2:ffff:ffff:ffff:ffff'));
    refused(await throttle.check('a3', '2001:db8:1:2:abcd::9'));
    admitted(await throttle.check('a4', '2001:db8:1:3::1'));
    admitted(await throttle.check('b1', '192.0.2.50'));
    admitted(await throttle.check('b2', '::ffff:192.0.2.50'));
    refused(await throttle.check('b3', '192.0.2.50'));
  });

  it('check — without an address only the account is limited', async () => {
    const { throttle } = setup({ maxAttempts: 3, maxAttemptsPerIp: 1 });
    for (let i = 0; i < 3; i++) admitted(await throttle.check(`nina${i}`, null));
    admitted(await throttle.check('nina', undefined));
  });

  it('recordSuccess — clears the account’s failures', async () => {
    const { throttle } = setup({ maxAttempts: 3 });
    await fail(throttle, 'olga', '192.0.2.20', 2);
    await throttle.recordSuccess(admitted(await throttle.check('olga', '192.0.2.20')));
    await fail(throttle, 'olga', '192.0.2.20', 3);
    refused(await throttle.check('olga', '192.0.2.20'));
  });

  it('recordSuccess — keeps the address’s failures, and refunds only the successful attempt', async () => {
    const { throttle } = setup({ maxAttempts: 100, maxAttemptsPerIp: 3 });
    await fail(throttle, 'target1', '192.0.2.30', 2);
    for (let i = 0; i < 20; i++) {
      await throttle.recordSuccess(admitted(await throttle.check('own-account', '192.0.2.30')));
    }
    admitted(await throttle.check('target2', '192.0.2.30'));
    assert.equal(refused(await throttle.check('target3', '192.0.2.30')).scope, 'ip');
  });

  it('resetAccount — unlocks a blocked account', async () => {
    const { throttle } = setup({ maxAttempts: 2 });
    await fail(throttle, 'pat@example.com', null, 2);
    refused(await throttle.check('pat@example.com', null));
    await throttle.resetAccount('PAT@example.com');
    admitted(await throttle.check('pat@example.com', null));
  });

  it('check — two throttles with different namespaces on one store keep separate counts', async () => {
    const { store, clock } = setup();
    const login = new LoginThrottle({ store, clock, maxAttempts: 1 });
    const reauth = new LoginThrottle({ store, clock, maxAttempts: 1, namespace: 'reauth' });
    admitted(await login.check('quinn', null));
    admitted(await reauth.check('quinn', null));
    refused(await login.check('quinn', null));
  });

  it('constructor — takes LOGIN_MAX_ATTEMPTS / LOGIN_WINDOW style values, per-address default 10×', () => {
    const throttle = new LoginThrottle({ maxAttempts: 10, window: 3600 });
    assert.deepEqual(throttle.accountRule, { limit: 10, windowMs: 3_600_000 });
    assert.deepEqual(throttle.ipRule, { limit: 100, windowMs: 3_600_000 });
  });

  it('constructor — rejects invalid options with messages that name them', () => {
    assert.throws(() => new LoginThrottle({ maxAttempts: 0 }), {
      name: 'InvalidOptionsError',
      message: 'keycard: login throttle maxAttempts must be a positive integer, got 0',
    });
    assert.throws(() => new LoginThrottle({ maxAttempts: 2.5 }), InvalidOptionsError);
    assert.throws(() => new LoginThrottle({ window: Number.NaN }), {
      message: 'keycard: login throttle window must be a positive number of seconds, got NaN',
    });
    assert.throws(() => new LoginThrottle({ maxAttemptsPerIp: -1 }), /maxAttemptsPerIp must be a positive integer/);
    assert.throws(() => new LoginThrottle({ namespace: 'has space' }), /namespace must be/);
  });
});

describe('normalizeAccount', () => {
  it('normalizeAccount — trims, lower-cases and applies NFKC', () => {
    assert.equal(normalizeAccount('  Alice@Example.COM\t'), 'alice@example.com');
    assert.equal(normalizeAccount('ＡＢＣ'), 'abc');
    assert.equal(normalizeAccount('Zoe\u0301'), 'zo\u00e9');
  });
});

describe('addressBucket', () => {
  it('addressBucket — IPv4 as is, IPv4-mapped IPv6 as IPv4, IPv6 as its /64', () => {
    assert.equal(addressBucket('203.0.113.7'), '203.0.113.7');
    assert.equal(addressBucket('::ffff:203.0.113.7'), '203.0.113.7');
    assert.equal(addressBucket('::FFFF:cb00:7107'), '203.0.113.7');
    assert.equal(addressBucket('2001:db8::1'), '2001:db8:0:0::/64');
    assert.equal(addressBucket('2001:0DB8:0000:0000:1:2:3:4'), '2001:db8:0:0::/64');
    assert.equal(addressBucket('fe80::1%eth0'), 'fe80:0:0:0::/64');
    assert.equal(addressBucket('::1'), '0:0:0:0::/64');
  });

  // Finding 7 of issue 13: behind `trust proxy: true` any string a client wrote in X-Forwarded-For was the
  // throttle key, so varying it bought a fresh per-address allowance.
  it('addressBucket — anything that does not parse as an IP is one shared bucket, never its own text', () => {
    for (const junk of ['Unknown', 'not:an:ip', '', ' ', '1.2.3', '203.0.113.7, 10.0.0.1', '<script>', 'x'.repeat(5000)]) {
      assert.equal(addressBucket(junk), UNPARSABLE_ADDRESS_BUCKET, JSON.stringify(junk.slice(0, 40)));
    }
  });
});

describe('LoginThrottle and unparsable addresses', () => {
  it('check — addresses that do not parse as IPs share one per-address limit (varying them buys nothing)', async () => {
    const { throttle } = setup({ maxAttempts: 100, maxAttemptsPerIp: 3 });
    for (const junk of ['junk-1', 'junk-2', 'admin']) admitted(await throttle.check(`victim-${junk}`, junk));
    assert.equal(refused(await throttle.check('victim-4', 'yet another string')).scope, 'ip');
    // A real address is its own bucket still.
    admitted(await throttle.check('victim-5', '198.51.100.23'));
  });
});

const DEVICE_SECRET = 'device-secret-device-secret-device-secret-0123';

/** A throttle with device cookies on, and the device cookie a successful sign-in of `account` gives. */
async function signedInDevice(throttle: LoginThrottle, account: string, ip: string): Promise<string> {
  const device = await throttle.recordSuccess(admitted(await throttle.check(account, ip)));
  assert.ok(device, 'device cookies are on: recordSuccess returns one');
  return device.value;
}

// Finding 4 of issue 13: five wrong passwords from anywhere locked the owner out for 15 minutes.
describe('LoginThrottle device cookies (OWASP)', () => {
  it('check — a browser that signed in before is not locked out by failures other clients caused', async () => {
    const { throttle } = setup({ maxAttempts: 3, deviceSecrets: DEVICE_SECRET });
    const device = await signedInDevice(throttle, 'owner@example.com', '192.0.2.1');
    await fail(throttle, 'owner@example.com', '198.51.100.66', 3);
    // The attacker, and any browser without the cookie, is refused...
    assert.equal(refused(await throttle.check('owner@example.com', '198.51.100.67')).scope, 'account');
    assert.equal(refused(await throttle.check('owner@example.com', '192.0.2.1')).scope, 'account');
    // ... the owner's browser is not, whatever its address.
    admitted(await throttle.check('OWNER@example.com', '192.0.2.1', { device }));
    admitted(await throttle.check('owner@example.com', '198.51.100.66', { device }));
  });

  it('check — a trusted device is not blocked by an address that others exhausted (a shared NAT)', async () => {
    const { throttle } = setup({ maxAttempts: 100, maxAttemptsPerIp: 2, deviceSecrets: DEVICE_SECRET });
    const device = await signedInDevice(throttle, 'nat-user', '192.0.2.50');
    await fail(throttle, 'someone-else', '192.0.2.50', 2);
    assert.equal(refused(await throttle.check('nat-user', '192.0.2.50')).scope, 'ip');
    admitted(await throttle.check('nat-user', '192.0.2.50', { device }));
  });

  it('check — a trusted device’s own failures still count: past the limit it is refused too (scope device)', async () => {
    const { throttle, clock } = setup({ maxAttempts: 2, deviceSecrets: DEVICE_SECRET });
    const device = await signedInDevice(throttle, 'careless', '192.0.2.2');
    admitted(await throttle.check('careless', '192.0.2.2', { device }));
    admitted(await throttle.check('careless', '192.0.2.2', { device }));
    clock.advance(10 * SECOND);
    assert.deepEqual(refused(await throttle.check('careless', '192.0.2.2', { device })), { retryAfterSeconds: 15 * 60 - 10, scope: 'device' });
    // Its failures were its own: the account's counter for other clients is untouched.
    admitted(await throttle.check('careless', '192.0.2.3'));
  });

  it('check — another account’s cookie, a forged, expired or tampered one, or one under a dropped secret is untrusted', async () => {
    const { throttle, clock, store } = setup({ maxAttempts: 1, deviceSecrets: DEVICE_SECRET, deviceLifetime: 600 });
    const mine = await signedInDevice(throttle, 'alice', '192.0.2.4');
    const other = await signedInDevice(throttle, 'mallory', '192.0.2.5');
    await fail(throttle, 'alice', '198.51.100.9', 1);
    const [issued = '', nonce = '', mac = ''] = mine.split('.');
    const flipped = `${mac.slice(0, 20)}${mac[20] === 'A' ? 'B' : 'A'}${mac.slice(21)}`;
    // The last of 43 characters carries two padding bits that a decoder ignores: the same MAC spelt otherwise.
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const respelt = `${mac.slice(0, -1)}${alphabet[alphabet.indexOf(mac.at(-1) as string) | 1]}`;
    assert.deepEqual(Buffer.from(respelt, 'base64url'), Buffer.from(mac, 'base64url'));
    for (const device of [other, `${issued}.${nonce}.${flipped}`, `${issued}.${nonce}.${respelt}`, 'garbage', '', `${issued}.${nonce}`, mine.toUpperCase()]) {
      assert.equal(refused(await throttle.check('alice', '192.0.2.4', { device })).scope, 'account', device);
    }
    admitted(await throttle.check('alice', '192.0.2.4', { device: mine }));
    const rotated = new LoginThrottle({ store, clock, maxAttempts: 1, deviceSecrets: ['a-brand-new-device-secret-0123456789abcdef'] });
    assert.equal(refused(await rotated.check('alice', '192.0.2.4', { device: mine })).scope, 'account');
    const kept = new LoginThrottle({ store, clock, maxAttempts: 5, deviceSecrets: ['a-brand-new-device-secret-0123456789abcdef', DEVICE_SECRET] });
    admitted(await kept.check('alice', '192.0.2.4', { device: mine }));
    // Past deviceLifetime (600 s), still inside the account's 900 s window.
    clock.advance(600 * SECOND);
    assert.equal(refused(await throttle.check('alice', '192.0.2.4', { device: mine })).scope, 'account', 'expired after deviceLifetime');
  });

  it('recordSuccess — returns a fresh device cookie with its lifetime; null with device cookies off', async () => {
    const on = setup({ deviceSecrets: [DEVICE_SECRET], deviceLifetime: 86_400 });
    const cookie = await on.throttle.recordSuccess(admitted(await on.throttle.check('zed', null)));
    assert.ok(cookie);
    assert.equal(cookie.maxAge, 86_400);
    assert.match(cookie.value, /^[0-9a-z]+\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}$/);
    assert.ok(!cookie.value.includes('zed'));
    assert.equal(on.throttle.deviceCookies, true);
    const off = setup();
    assert.equal(await off.throttle.recordSuccess(admitted(await off.throttle.check('zed', null))), null);
    assert.equal(off.throttle.deviceCookies, false);
  });

  it('recordSuccess — a sign-in from the owner’s device does not forgive what others tried on the account', async () => {
    const { throttle } = setup({ maxAttempts: 2, deviceSecrets: DEVICE_SECRET });
    const device = await signedInDevice(throttle, 'kept', '192.0.2.8');
    await fail(throttle, 'kept', '198.51.100.1', 2);
    await throttle.recordSuccess(admitted(await throttle.check('kept', '192.0.2.8', { device })));
    refused(await throttle.check('kept', '198.51.100.2'));
  });

  it('constructor — refuses short device secrets and a bad lifetime', () => {
    assert.throws(() => new LoginThrottle({ deviceSecrets: 'short' }), /deviceSecrets must be one or more secrets of at least 32 characters/);
    assert.throws(() => new LoginThrottle({ deviceSecrets: [] }), InvalidOptionsError);
    assert.throws(() => new LoginThrottle({ deviceSecrets: DEVICE_SECRET, deviceLifetime: 0 }), /deviceLifetime must be a positive integer/);
  });
});

// Finding 15 of issue 13: failed sign-ins and lockouts were not reported anywhere.
describe('LoginThrottle events', () => {
  it('recordFailure — emits signInFailed (bad-password) with a subject, and lockedOut when a counter fills', async () => {
    const events = new SessionEvents();
    const seen: SessionEvent[] = [];
    events.on('*', (event) => seen.push(event));
    const { throttle } = setup({ maxAttempts: 2, maxAttemptsPerIp: 3, events });
    throttle.recordFailure(admitted(await throttle.check('Eve@Example.com', '192.0.2.9')));
    assert.deepEqual(seen.map((e) => [e.type, e.reason]), [['signInFailed', 'bad-password']]);
    throttle.recordFailure(admitted(await throttle.check('eve@example.com', '192.0.2.9')));
    assert.deepEqual(seen.slice(1).map((e) => [e.type, e.reason]), [['signInFailed', 'bad-password'], ['lockedOut', 'account']]);
    throttle.recordFailure(admitted(await throttle.check('other', '192.0.2.9')));
    assert.deepEqual(seen.slice(3).map((e) => [e.type, e.reason]), [['signInFailed', 'bad-password'], ['lockedOut', 'ip']]);
    refused(await throttle.check('eve@example.com', null));
    assert.deepEqual([seen.at(-1)?.type, seen.at(-1)?.reason], ['signInFailed', 'throttled']);
    const subjects = new Set(seen.filter((e) => e.reason !== 'ip').slice(0, 3).map((e) => e.subject));
    assert.equal(subjects.size, 1, 'one account, one subject, whatever its spelling');
    for (const event of seen) {
      assert.equal(event.handle, null);
      assert.equal(event.userId, null);
      assert.match(event.subject ?? '', /^[A-Za-z0-9_-]{16}$/);
      // The address only in `ip` (for audit logs), never the account anywhere.
      const { ip, ...rest } = event;
      assert.ok(ip === '192.0.2.9' || ip === null, String(ip));
      assert.ok(!JSON.stringify(event).includes('eve') && !JSON.stringify(rest).includes('192.0.2.9'));
    }
  });

  it('cancel — an attempt that never reached a password check is refunded on the account and the address', async () => {
    const { throttle } = setup({ maxAttempts: 1, maxAttemptsPerIp: 1 });
    for (let i = 0; i < 5; i++) await throttle.cancel(admitted(await throttle.check('busy-hasher', '192.0.2.10')));
    admitted(await throttle.check('busy-hasher', '192.0.2.10'));
  });
});
