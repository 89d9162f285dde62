import assert from 'node:assert/strict';
import { availableParallelism } from 'node:os';
import { describe, it } from 'node:test';
import { InvalidOptionsError } from '../src/index.js';
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
