import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { indexScale, type IndexScaleData } from '../src/reliability/index-scale.js';

/** The experiment starts its own redis-server: skip without the binary, fail with REQUIRE_SERVICES=1. */
function redisServerSkip(): string | false {
  if (!spawnSync('redis-server', ['--version']).error) return false;
  const reason = 'redis-server is not installed';
  if (process.env['REQUIRE_SERVICES'] === '1') throw new Error(`REQUIRE_SERVICES=1 but ${reason}`);
  process.stderr.write(`SKIPPED (${reason}); set REQUIRE_SERVICES=1 to make this an error\n`);
  return reason;
}

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
