import 'reflect-metadata';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { afterEach, describe, it } from 'node:test';
import { Body, Controller, Module, Post, Req, UnauthorizedException, type Type } from '@nestjs/common';
import { Redis } from 'ioredis';
import {
  KeycardError,
  LoginThrottle,
  MemoryRateLimitStore,
  normalizeAccount,
  SessionEvents,
  SignInThrottledError,
  type LoginThrottleOptions,
  type Session as KeycardSession,
  type SessionEvent,
} from '../src/index.js';
import { Public, Session, SessionModule, SessionService, toHttpException } from '../src/nest/index.js';
import { RedisRateLimitStore } from '../src/redis/index.js';
import { manualClock, type ManualClock } from './support/clock.js';
import {
  PLATFORMS,
  expectCookie,
  expectKeycardError,
  expectNoSetCookie,
  expectStatus,
  startApp,
  type HttpResult,
  type Platform,
  type RunningApp,
} from './support/http.js';
import { SECRET } from './support/session-app.js';
import { REDIS_URL, redisSkip } from './support/services.js';

const skip = await redisSkip();
// Unique per run, and per test below: the Redis server is shared with other suites and engineers.
const runPrefix = `keycard:test:throttle-http:${randomBytes(6).toString('hex')}:`;

const SECOND = 1000;

/** What throttle events call an account: a prefix of the SHA-256 of its normalised form, never the account. */
function subjectOf(account: string): string {
  return createHash('sha256').update(normalizeAccount(account)).digest('base64url').slice(0, 16);
}
const WINDOW_SECONDS = 60;
const MAX_ATTEMPTS = 3;
const PASSWORD = 'correct horse battery staple';
const WRONG = 'Tr0ub4dor&3';

interface LoginBody {
  readonly email: string;
  readonly password: string;
}

/**
 * The sign-in an application writes with the throttle: admit (or throw
 * SignInThrottledError: 429), verify, refund on success. Every account in
 * this app has the same password.
 */
@Controller()
class ThrottledLoginController {
  constructor(
    private readonly throttle: LoginThrottle,
    private readonly sessions: SessionService,
  ) {}

  @Public()
  @Post('login')
  async login(@Session() session: KeycardSession, @Body() body: LoginBody, @Req() request: { ip?: string }): Promise<{ user: string }> {
    const attempt = await this.throttle.assertAllowed(body.email, request.ip);
    if (body.password !== PASSWORD) throw new UnauthorizedException('email or password is incorrect');
    await this.throttle.recordSuccess(attempt);
    await this.sessions.signIn(session, { id: body.email, roles: ['user'], authVersion: 1 });
    return { user: body.email };
  }
}

function throttledApp(throttle: LoginThrottle): Type<unknown> {
  @Module({
    imports: [SessionModule.forRoot({ secrets: SECRET, csrf: false })],
    controllers: [ThrottledLoginController],
    providers: [{ provide: LoginThrottle, useValue: throttle }],
  })
  class ThrottledLoginModule {}
  return ThrottledLoginModule;
}

/** One app instance: its own Nest app, ioredis client, store, throttle and event log. */
interface Instance {
  readonly running: RunningApp;
  readonly redis: Redis;
  readonly events: SessionEvent[];
}

/** Two instances behind one (imaginary) load balancer, sharing a Redis prefix and a clock. */
interface Pair {
  readonly a: Instance;
  readonly b: Instance;
  readonly clock: ManualClock;
  readonly prefix: string;
}

let testIndex = 0;

async function startPair(platform: Platform, options: Partial<LoginThrottleOptions> = {}): Promise<Pair> {
  const clock = manualClock();
  const prefix = `${runPrefix}${testIndex++}:`;
  const start = async (): Promise<Instance> => {
    const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
    const events = new SessionEvents();
    const seen: SessionEvent[] = [];
    events.on('*', (event) => seen.push(event));
    const throttle = new LoginThrottle({
      store: new RedisRateLimitStore(redis, { prefix }),
      maxAttempts: MAX_ATTEMPTS,
      window: WINDOW_SECONDS,
      clock,
      events,
      ...options,
    });
    try {
      const running = await startApp(platform, throttledApp(throttle));
      return { running, redis, events: seen };
    } catch (error) {
      await redis.quit();
      throw error;
    }
  };
  const a = await start();
  const b = await start().catch(async (error: unknown) => {
    await stopInstance(a);
    throw error;
  });
  return { a, b, clock, prefix };
}

async function stopInstance(instance: Instance): Promise<void> {
  await instance.running.close();
  await instance.redis.quit();
}

async function stopPair(pair: Pair): Promise<void> {
  const keys = await pair.a.redis.keys(`${pair.prefix}*`);
  if (keys.length > 0) await pair.a.redis.del(...keys);
  await Promise.all([stopInstance(pair.a), stopInstance(pair.b)]);
}

function login(instance: Instance, email: string, password: string): Promise<HttpResult> {
  return instance.running.client().post('/login', { email, password });
}

async function failOn(instance: Instance, email: string): Promise<void> {
  const result = await login(instance, email, WRONG);
  expectStatus(result, 401);
  expectNoSetCookie(result);
}

async function succeedOn(instance: Instance, email: string): Promise<void> {
  const result = await login(instance, email, PASSWORD);
  expectStatus(result, 201);
  expectCookie(result, 'sid', { httpOnly: true });
}

const THROTTLED_BODY = {
  statusCode: 429,
  error: 'Too Many Requests',
  message: 'Too many sign-in attempts: try again later.',
  code: 'KEYCARD_THROTTLED',
};

/** A 429 with a whole positive Retry-After, the stable code, no cookie, and nothing about the account, address or scope. */
function expectThrottled(result: HttpResult, email: string): number {
  expectKeycardError(result, 429, 'KEYCARD_THROTTLED');
  const header = result.headers.get('retry-after');
  assert.match(header ?? '', /^[1-9][0-9]*$/, `Retry-After ${String(header)}`);
  expectNoSetCookie(result);
  // One fixed body whichever limit refused it.
  assert.deepEqual(result.body, THROTTLED_BODY);
  for (const secret of [email, email.split('@')[0] ?? email, '127.0.0.1', 'account', 'scope']) {
    assert.ok(!result.text.toLowerCase().includes(secret.toLowerCase()), `body mentions ${secret}: ${result.text}`);
  }
  return Number(header);
}

describe('SignInThrottledError → HTTP (no server)', () => {
  it('toHttpException — 429 Too Many Requests, Retry-After in whole seconds (at least 1), message without account or scope', () => {
    const exception = toHttpException(new SignInThrottledError(42, 'account'));
    assert.equal(exception.getStatus(), 429);
    assert.equal(exception.code, 'KEYCARD_THROTTLED');
    assert.deepEqual(exception.headers, { 'Retry-After': '42' });
    const body = exception.getResponse() as { message: string; code: string; error: string };
    assert.equal(body.code, 'KEYCARD_THROTTLED');
    assert.equal(body.error, 'Too Many Requests');
    assert.doesNotMatch(body.message, /account|address|\bip\b/i);
    assert.deepEqual(toHttpException(new SignInThrottledError(0.2, 'ip')).headers, { 'Retry-After': '1' });
    assert.deepEqual(toHttpException(new SignInThrottledError(2.01, 'ip')).headers, { 'Retry-After': '3' });
    // Other answers carry no extra headers.
    assert.deepEqual(toHttpException('KEYCARD_UNAUTHENTICATED').headers, {});
  });

  it('SignInThrottledError — a KeycardError with the code, rounded seconds and the scope; refuses a non-finite wait', () => {
    const error = new SignInThrottledError(0, 'ip');
    assert.ok(error instanceof KeycardError);
    assert.equal(error.code, 'KEYCARD_THROTTLED');
    assert.equal(error.name, 'SignInThrottledError');
    assert.equal(error.retryAfterSeconds, 1);
    assert.equal(error.scope, 'ip');
    assert.throws(() => new SignInThrottledError(Number.POSITIVE_INFINITY, 'account'), TypeError);
    assert.throws(() => new SignInThrottledError(Number.NaN, 'account'), TypeError);
  });

  it('assertAllowed — returns the attempt while admitted, then throws with the seconds and scope and emits signInFailed without the account', async () => {
    const clock = manualClock();
    const events = new SessionEvents();
    const seen: SessionEvent[] = [];
    events.on('*', (event) => seen.push(event));
    const throttle = new LoginThrottle({ store: new MemoryRateLimitStore({ sweepInterval: 0 }), clock, maxAttempts: 2, window: 60, events });
    await throttle.assertAllowed('dana@example.com', '192.0.2.4');
    clock.advance(10 * SECOND);
    const attempt = await throttle.assertAllowed('dana@example.com', '192.0.2.4');
    assert.equal(attempt.at, clock.now());
    assert.deepEqual(seen, [], 'admitted attempts emit nothing');
    await assert.rejects(throttle.assertAllowed('Dana@Example.com ', '192.0.2.5'), (error: unknown) => {
      assert.ok(error instanceof SignInThrottledError);
      assert.equal(error.retryAfterSeconds, 50);
      assert.equal(error.scope, 'account');
      assert.doesNotMatch(error.message, /dana|192\.0\.2/i);
      return true;
    });
    assert.deepEqual(seen, [{ type: 'signInFailed', handle: null, userId: null, at: clock.now(), reason: 'throttled', subject: subjectOf('dana@example.com'), scope: 'account', ip: '192.0.2.5' }]);
    // `check` reports the refusal as a value, and emits too.
    const decision = await throttle.check('dana@example.com', '192.0.2.4');
    assert.deepEqual(decision, { allowed: false, retryAfterSeconds: 50, scope: 'account' });
    assert.equal(seen.length, 2);
    await throttle.recordSuccess(attempt);
    await throttle.assertAllowed('dana@example.com', '192.0.2.4');
  });
});

for (const platform of PLATFORMS) {
  describe(`throttled sign-in over HTTP on ${platform}, two instances sharing Redis`, { skip }, () => {
    let pair: Pair | undefined;
    // Keys and clients are per test, so a failed assertion never leaks counters into the next test.
    afterEach(async () => {
      if (pair) await stopPair(pair);
      pair = undefined;
    });

    it('counts failures on A and B together; past the limit both answer 429 with Retry-After, even to the right password', async () => {
      pair = await startPair(platform);
      const { a, b, clock } = pair;
      const email = 'alice@example.com';
      await failOn(a, email);
      await failOn(b, email);
      clock.advance(5 * SECOND);
      await failOn(a, email);
      // Three failures in all (two on A, one on B): the fourth attempt, right password or not, is refused everywhere,
      // until the oldest failure (5 s ago) leaves the window.
      assert.equal(expectThrottled(await login(b, email, PASSWORD), email), WINDOW_SECONDS - 5);
      assert.equal(expectThrottled(await login(a, email, PASSWORD), email), WINDOW_SECONDS - 5);
      assert.equal(expectThrottled(await login(a, email, WRONG), email), WINDOW_SECONDS - 5);
      // Each instance reports its own refusals, without the account.
      const throttled = { type: 'signInFailed', handle: null, userId: null, at: clock.now(), reason: 'throttled', subject: subjectOf(email), scope: 'account' };
      // The client address only in `ip`, for audit logs: here the loopback the test connects from.
      const withoutIp = (events: SessionEvent[]) =>
        events.map(({ ip, ...rest }) => {
          assert.match(String(ip), /127\.0\.0\.1|::1/);
          return rest;
        });
      assert.deepEqual(withoutIp(b.events), [throttled]);
      assert.deepEqual(withoutIp(a.events), [throttled, throttled]);
      assert.ok(!JSON.stringify([...a.events, ...b.events]).includes('alice'));
      // Another account from the same address is not blocked by alice's.
      await succeedOn(b, 'bob@example.com');
    });

    it('Retry-After counts down on both instances, and the right password is admitted once the window has passed', async () => {
      pair = await startPair(platform);
      const { a, b, clock } = pair;
      const email = 'carol@example.com';
      for (let i = 0; i < MAX_ATTEMPTS; i++) await failOn(i % 2 === 0 ? a : b, email);
      clock.advance(20 * SECOND);
      assert.equal(expectThrottled(await login(a, email, PASSWORD), email), WINDOW_SECONDS - 20);
      clock.advance(39.5 * SECOND);
      assert.equal(expectThrottled(await login(b, email, PASSWORD), email), 1, 'half a second left rounds up to 1');
      clock.advance(0.5 * SECOND);
      await succeedOn(b, email);
    });

    it('a success before the limit resets the account counter for both instances', async () => {
      pair = await startPair(platform);
      const { a, b } = pair;
      const email = 'erin@example.com';
      for (let i = 0; i < MAX_ATTEMPTS - 1; i++) await failOn(a, email);
      await succeedOn(b, email);
      // A full new allowance, counted across both instances again.
      await failOn(b, email);
      await failOn(a, email);
      await failOn(b, email);
      expectThrottled(await login(a, email, PASSWORD), email);
      expectThrottled(await login(b, email, PASSWORD), email);
      assert.equal(a.events.length + b.events.length, 2);
    });

    it('a refusal by the address limit looks exactly like one by the account limit', async () => {
      pair = await startPair(platform, { maxAttemptsPerIp: 4 });
      const { a, b } = pair;
      await failOn(a, 'frank@example.com');
      await failOn(b, 'grace@example.com');
      await failOn(a, 'heidi@example.com');
      await failOn(b, 'ivan@example.com');
      // A fresh account, right password: refused because this address spent its allowance.
      const byIp = await login(a, 'judy@example.com', PASSWORD);
      assert.equal(expectThrottled(byIp, 'judy@example.com'), WINDOW_SECONDS);
      expectThrottled(await login(b, 'judy@example.com', PASSWORD), 'judy@example.com');
    });
  });
}

