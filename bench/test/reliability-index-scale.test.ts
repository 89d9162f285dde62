import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { indexScale, type IndexScaleData } from '../src/reliability/index-scale.js';
import { redisServerSkip } from './support/services.js';

describe('reliability: index-scale (quick)', { skip: redisServerSkip() }, () => {
  it('run — listing and revoking run the same Redis commands among 1 000 and 20 000 sessions', async () => {
    const outcome = await indexScale.run('quick');
    assert.ok(outcome.passed, outcome.problems.join('\n'));
    const data = outcome.data as IndexScaleData;
    assert.deepEqual(data.scales.map((s) => s.background), [1_000, 20_000]);
    assert.deepEqual(data.commandsEqual, { list: true, revokeAll: true, revokeOne: true });
    for (const s of data.scales) {
      // Every key the fill wrote is still there, and nothing of the target's is.
      assert.equal(s.dbsize, s.background + s.backgroundUsers);
      // One index read, then one script per session of the target: 10, never N.
      assert.match(s.list.commands, new RegExp(`evalsha×${data.targetSessions} hgetall×${data.targetSessions} zrangebyscore×1$`));
      assert.match(s.revokeAll.commands, new RegExp(`del×${data.targetSessions} `));
      assert.match(s.revokeOne.commands, /^del×1 /);
      assert.ok(s.list.reps > 0 && s.revokeAll.reps > 0 && s.revokeOne.reps > 0);
    }
  });
});
