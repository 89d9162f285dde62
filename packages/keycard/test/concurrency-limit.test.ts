import assert from 'node:assert/strict';
import { availableParallelism } from 'node:os';
import { describe, it } from 'node:test';
import { InvalidOptionsError, KeycardError, OverloadedError } from '../src/index.js';
import { toHttpException } from '../src/nest/index.js';
import { ConcurrencyLimit } from '../src/password/limit.js';
import { defaultMaxConcurrent } from '../src/password/hasher.js';
import { PasswordHasher } from '../src/password/index.js';

/** Lets every settled promise's continuation run. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

function gate(): { promise: Promise<void>; open: () => void; fail: () => void } {
  let open = () => {};
  let fail = () => {};
  const promise = new Promise<void>((resolve, reject) => {
    open = resolve;
    fail = () => reject(new Error('task failed'));
  });
  return { promise, open, fail };
}

describe('ConcurrencyLimit', () => {
  it('run — starts at most `size` tasks, the others in arrival order as slots free up', async () => {
    const limit = new ConcurrencyLimit(2);
    const gates = Array.from({ length: 5 }, gate);
    const started: number[] = [];
    const results = gates.map((entry, index) =>
      limit.run(async () => {
        started.push(index);
        await entry.promise;
        return index;
      }),
    );
    await settle();
    assert.deepEqual(started, [0, 1]);
    assert.equal(limit.running, 2);
    assert.equal(limit.queued, 3);
    gates[1]?.open();
    await settle();
    assert.deepEqual(started, [0, 1, 2]);
    gates[0]?.open();
    await settle();
    assert.deepEqual(started, [0, 1, 2, 3]);
    for (const entry of gates) entry.open();
    assert.deepEqual(await Promise.all(results), [0, 1, 2, 3, 4]);
    assert.equal(limit.running, 0);
    assert.equal(limit.queued, 0);
  });

  it('run — a task that fails rejects its caller and frees its slot', async () => {
    const limit = new ConcurrencyLimit(1);
    const first = gate();
    const failing = limit.run(() => first.promise);
    const next = limit.run(async () => 'ran');
    first.fail();
    await assert.rejects(failing, /task failed/);
    assert.equal(await next, 'ran');
    assert.equal(limit.running, 0);
  });
});

// Finding 2 of issue 13: 300 concurrent registrations queued 300 argon2 hashes without limit, and a
// legitimate sign-in waited 11 s behind them. The queue is bounded in length and in waiting time.
describe('ConcurrencyLimit bounds', () => {
  it('run — past maxQueued waiting tasks, a newcomer is refused at once with OverloadedError and never runs', async () => {
    const limit = new ConcurrencyLimit(1, { maxQueued: 2, maxWaitMs: 60_000 });
    const held = gate();
    const running = limit.run(() => held.promise);
    const queued = [limit.run(async () => 'a'), limit.run(async () => 'b')];
    let ran = false;
    const refused = limit.run(async () => {
      ran = true;
    });
    await assert.rejects(refused, (error: unknown) => {
      assert.ok(error instanceof OverloadedError && error instanceof KeycardError);
      assert.equal(error.code, 'KEYCARD_OVERLOADED');
      assert.equal(error.retryAfterSeconds, 60);
      return true;
    });
    assert.equal(limit.queued, 2);
    held.open();
    await running;
    assert.deepEqual(await Promise.all(queued), ['a', 'b']);
    assert.equal(ran, false);
    assert.equal(limit.running, 0);
  });

  it('run — a task that waited maxWaitMs is refused and never runs; the ones behind it move up', async () => {
    const limit = new ConcurrencyLimit(1, { maxQueued: 10, maxWaitMs: 30 });
    const held = gate();
    const running = limit.run(() => held.promise);
    let ran = false;
    const waiting = limit.run(async () => {
      ran = true;
    });
    // The held task never finishes by itself: only the wait deadline can settle `waiting`.
    await assert.rejects(waiting, OverloadedError);
    assert.equal(ran, false);
    assert.equal(limit.queued, 0);
    assert.equal(limit.running, 1);
    held.open();
    await running;
    assert.equal(await limit.run(async () => 'next'), 'next');
    assert.equal(limit.running, 0);
  });

  it('toHttpException — OverloadedError is 503 with Retry-After in whole seconds', () => {
    const exception = toHttpException(new OverloadedError('password hashing', 1.2));
    assert.equal(exception.getStatus(), 503);
    assert.equal(exception.code, 'KEYCARD_OVERLOADED');
    assert.deepEqual(exception.headers, { 'Retry-After': '2' });
  });
});

describe('PasswordHasher queue bounds', () => {
  it('defaults: 32 waiting computations per concurrent slot, 2000 ms of waiting', () => {
    const hasher = new PasswordHasher({ maxConcurrent: 2 });
    assert.equal(hasher.maxQueued, 64);
    assert.equal(hasher.maxWait, 2000);
  });

  it('refuses queue bounds that are not positive integers', () => {
    assert.throws(() => new PasswordHasher({ maxQueued: -1 }), /maxQueued must be an integer from 0 to 100000/);
    assert.throws(() => new PasswordHasher({ maxWait: 0 }), /maxWait must be an integer from 1 to 600000/);
  });

  it('hash — rejects with OverloadedError when the queue is full, instead of queueing without limit', async () => {
    const hasher = new PasswordHasher({ maxConcurrent: 1, maxQueued: 1, memoryCost: 8, timeCost: 1 });
    try {
      const results = await Promise.allSettled(Array.from({ length: 6 }, () => hasher.hash('registration storm')));
      const refused = results.filter((r) => r.status === 'rejected');
      assert.ok(refused.length >= 1, 'some hashes are refused');
      for (const r of refused) assert.ok((r as PromiseRejectedResult).reason instanceof OverloadedError);
      assert.ok(results.some((r) => r.status === 'fulfilled'), 'the ones that fit are hashed');
    } finally {
      await hasher.close();
    }
  });
});

describe('PasswordHasher under a full queue', () => {
  it('verify and verifyUnknown reject with OverloadedError (503), not UnsupportedHashError, when the queue is full', async () => {
    const hasher = new PasswordHasher({ maxConcurrent: 1, maxQueued: 1, memoryCost: 8, timeCost: 1 });
    try {
      const stored = await hasher.hash('a fine password');
      // The real queue, filled (one running, one waiting) with work held until the test lets it go.
      const limit = (hasher as unknown as { limit: ConcurrencyLimit }).limit;
      const held = gate();
      const occupying = Promise.all([limit.run(() => held.promise), limit.run(() => held.promise)]);
      await assert.rejects(hasher.verify(stored, 'a fine password'), OverloadedError);
      await assert.rejects(hasher.verifyUnknown('a fine password'), OverloadedError);
      held.open();
      await occupying;
      assert.deepEqual(await hasher.verify(stored, 'a fine password'), { ok: true, needsRehash: false });
    } finally {
      await hasher.close();
    }
  });
});

describe('PasswordHasher maxConcurrent', () => {
  it('defaults to the cores minus one, at most the thread pool minus one, at least one', () => {
    const saved = process.env.UV_THREADPOOL_SIZE;
    try {
      delete process.env.UV_THREADPOOL_SIZE;
      assert.equal(new PasswordHasher().maxConcurrent, Math.max(1, Math.min(availableParallelism() - 1, 3)));
      process.env.UV_THREADPOOL_SIZE = '2';
      assert.equal(defaultMaxConcurrent(), 1);
      process.env.UV_THREADPOOL_SIZE = '128';
      assert.equal(defaultMaxConcurrent(), Math.max(1, availableParallelism() - 1));
    } finally {
      if (saved === undefined) delete process.env.UV_THREADPOOL_SIZE;
      else process.env.UV_THREADPOOL_SIZE = saved;
    }
  });

  it('takes an explicit value and refuses one below 1', () => {
    assert.equal(new PasswordHasher({ maxConcurrent: 3 }).maxConcurrent, 3);
    assert.throws(() => new PasswordHasher({ maxConcurrent: 0 }), InvalidOptionsError);
    assert.throws(() => new PasswordHasher({ maxConcurrent: 1.5 }), /maxConcurrent must be an integer from 1 to 1024/);
  });
});
