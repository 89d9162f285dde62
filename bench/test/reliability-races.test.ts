import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { races, type StackCounts } from '../src/reliability/races.js';
import { redisServerSkip } from './support/services.js';

describe('races experiment (quick scale)', { skip: redisServerSkip() }, () => {
  it('keycard never resurrects a signed-out session nor loses a write; express-session does both', async () => {
    const outcome = await races.run('quick');
    assert.ok(outcome.passed, outcome.problems.join('\n'));
    const { trials, counts } = outcome.data as { trials: number; counts: StackCounts[] };
    assert.equal(counts.length, 3);
    for (const count of counts.filter((entry) => entry.stack.startsWith('keycard'))) {
      assert.equal(count.trials, trials);
      assert.equal(count.resurrected, 0, count.stack);
      assert.equal(count.lostKeys, 0, count.stack);
    }
    // The comparison stack is the harness' proof that it detects both bugs.
    const expressSession = counts.find((entry) => entry.stack.startsWith('express-session'));
    assert.ok(expressSession, 'the express-session stack ran');
    assert.ok(expressSession.resurrected > 0, 'the harness saw express-session resurrect a session');
    assert.ok(expressSession.lostKeys > 0, 'the harness saw express-session lose a write');
  });
});
