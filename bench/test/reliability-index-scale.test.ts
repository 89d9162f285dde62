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
      // The whole command lists, so that one O(N) command (KEYS, SCAN) added anywhere would show.
      const n = data.targetSessions;
      assert.equal(s.list.commands, `evalsha×${n} hgetall×${n} zrangebyscore×1`);
      // Each TAKE publishes its key for the session cache (in-script) and is followed by an EXISTS on that key's node (delivery barrier).
      assert.equal(s.revokeAll.commands, `del×${n} evalsha×${n + 1} exists×${n} hmget×${n} publish×${n + 1} zrange×2 zrem×1 zremrangebyscore×1`);
      assert.equal(s.revokeOne.commands, 'del×1 evalsha×2 exists×1 hmget×1 pexpireat×1 publish×2 zrange×2 zrem×1 zremrangebyscore×1');
      assert.ok(s.list.reps > 0 && s.revokeAll.reps > 0 && s.revokeOne.reps > 0);
    }
  });
});
