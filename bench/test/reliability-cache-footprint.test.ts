import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { cacheFootprint, DEFAULT_LIMITS } from '../src/reliability/cache-footprint.js';
import type { FootprintReply } from '../src/reliability/cache-footprint/protocol.js';
import { redisServerSkip } from './support/services.js';

describe('reliability: cache-footprint (quick)', { skip: redisServerSkip() }, () => {
  it('the cache stays within its bounds, answers every read of a working set that fits, and not of one that does not', async () => {
    const outcome = await cacheFootprint.run('quick');
    assert.ok(outcome.passed, outcome.problems.join('\n'));
    const data = outcome.data as FootprintReply;
    assert.ok(data.memory.heapBytesPerEntry > 100, `heap per entry measured: ${data.memory.heapBytesPerEntry}`);
    const [fits, byCount, byBytes] = data.populations;
    assert.ok(fits && byCount && byBytes);
    for (const p of fits.patterns) {
      assert.equal(p.hitRate, 1, `${fits.label} ${p.pattern}: every read after the warm-up is a hit`);
      assert.equal(p.evictions, 0);
      assert.ok(p.peakEntries <= DEFAULT_LIMITS.maxEntries && p.peakBytes <= DEFAULT_LIMITS.maxBytes);
    }
    for (const p of byCount.patterns) {
      assert.ok(p.peakEntries <= 1000, `${byCount.label} ${p.pattern}: entries bounded (${p.peakEntries})`);
      assert.ok(p.hitRate < 1 && p.evictions > 0, `${byCount.label} ${p.pattern}: hit rate ${p.hitRate}`);
    }
    // LRU under a cyclic scan larger than the cache: every entry is evicted before it is read again.
    assert.equal(byCount.patterns.find((p) => p.pattern === 'round-robin')?.hitRate, 0);
    for (const p of byBytes.patterns) {
      assert.ok(p.peakBytes <= 256 * 1024, `${byBytes.label}: bytes bounded (${p.peakBytes})`);
      assert.ok(p.peakEntries < byBytes.sessions && p.hitRate < 1 && p.evictions > 0);
    }
  });
});
