import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryRateLimitStore } from '../src/index.js';
import { describeRateLimitStore } from '../src/testing/index.js';

describeRateLimitStore('memory', () => new MemoryRateLimitStore({ sweepInterval: 0 }));

describe('MemoryRateLimitStore', () => {
  const rule = { limit: 3, windowMs: 60_000 };

  it('sweep — removes keys whose newest entry has left the window, and keeps the rest', async () => {
    const store = new MemoryRateLimitStore({ sweepInterval: 0 });
    const t0 = Date.now();
    await store.consume('old', t0, rule);
    await store.consume('recent', t0, rule);
    await store.consume('recent', t0 + 30_000, rule);
    assert.equal(store.sweep(t0 + 60_000), 1);
    assert.equal(store.size, 1);
    assert.deepEqual(await store.peek('recent', t0 + 60_000, rule), { count: 1, oldestAt: t0 + 30_000 });
  });

  it('consume — past maxKeys drops the least recently written key, so it never grows', async () => {
    const store = new MemoryRateLimitStore({ sweepInterval: 0, maxKeys: 3 });
    const now = Date.now();
    for (const key of ['a', 'b', 'c']) await store.consume(key, now, rule);
    await store.consume('a', now, rule);
    await store.consume('d', now, rule);
    assert.equal(store.size, 3);
    assert.deepEqual(await store.peek('b', now, rule), { count: 0, oldestAt: null });
    assert.deepEqual(await store.peek('a', now, rule), { count: 2, oldestAt: now });
  });

  it('release — removing the last entry removes the key', async () => {
    const store = new MemoryRateLimitStore({ sweepInterval: 0 });
    const now = Date.now();
    await store.consume('k', now, rule);
    await store.release('k', now);
    assert.equal(store.size, 0);
  });

  it('constructor — rejects a maxKeys that is not a positive integer', () => {
    assert.throws(() => new MemoryRateLimitStore({ maxKeys: 0 }), /maxKeys must be a positive integer/);
  });
});
