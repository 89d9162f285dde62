import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { races, type StackCounts } from '../src/reliability/races.js';
import { redisServerSkip } from './support/services.js';

describe('races experiment (quick scale)', { skip: redisServerSkip() }, () => {
  it('keycard with its cache on never resurrects a signed-out session nor loses a write, on 2 and 3 instances; express-session and a stale cache do both', async () => {
    const outcome = await races.run('quick');
    assert.ok(outcome.passed, outcome.problems.join('\n'));
    const { trials, counts } = outcome.data as { trials: number; counts: StackCounts[] };
    const keycard = counts.filter((entry) => entry.role === 'keycard');
    assert.deepEqual(keycard.map((count) => count.instances), [2, 2, 3]);
    for (const count of keycard) {
      assert.equal(count.trials, trials);
      assert.equal(count.resurrected, 0, count.stack);
      assert.equal(count.lostKeys, 0, count.stack);
      assert.equal(count.caches.length, count.instances);
      for (const { instance, stats } of count.caches) assert.ok(stats !== null && stats.hits > 0, `${instance}: the cache is on and answers`);
    }
    // The third instance held every race's session in its cache beforehand.
    assert.equal(keycard[2]?.cachedOnC, 2 * trials);
    // The comparison stack is the harness' proof that it detects both bugs…
    const expressSession = counts.find((entry) => entry.role === 'comparison');
    assert.ok(expressSession, 'the express-session stack ran');
    assert.ok(expressSession.resurrected > 0, 'the harness saw express-session resurrect a session');
    assert.ok(expressSession.lostKeys > 0, 'the harness saw express-session lose a write');
    // …and the control that it detects a cache that missed the race's outcome.
    const control = counts.find((entry) => entry.role === 'control');
    assert.ok(control && control.resurrected > 0 && control.lostKeys > 0, 'the harness saw the stale cache on C');
  });
});
