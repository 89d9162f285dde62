import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { signInLoad, type SignInLoadData } from '../src/reliability/sign-in-load.js';

/** The experiment starts its own redis-server: skip without the binary, fail with REQUIRE_SERVICES=1. */
function redisServerSkip(): string | false {
  if (!spawnSync('redis-server', ['--version']).error) return false;
  const reason = 'redis-server is not installed';
  if (process.env['REQUIRE_SERVICES'] === '1') throw new Error(`REQUIRE_SERVICES=1 but ${reason}`);
  process.stderr.write(`SKIPPED (${reason}); set REQUIRE_SERVICES=1 to make this an error\n`);
  return reason;
}

describe('reliability: sign-in-load (quick)', { skip: redisServerSkip() }, () => {
  it('run — every sign-in under load answers 200 with a working cookie, every read 200', async () => {
    const outcome = await signInLoad.run('quick');
    assert.ok(outcome.passed, outcome.problems.join('\n'));
    const data = outcome.data as SignInLoadData;
    assert.deepEqual(data.platforms.map((p) => p.platform), ['fastify', 'express']);
    for (const p of data.platforms) {
      assert.equal(p.signInFailures, 0, p.platform);
      assert.ok(p.signIns >= data.concurrentSignIns && p.signIns % data.concurrentSignIns === 0, `${p.platform}: whole bursts of ${data.concurrentSignIns}`);
      assert.equal(p.cookiesChecked, data.concurrentSignIns, `${p.platform}: the last burst's cookies read back their users`);
      for (const phase of [p.before, p.during]) {
        assert.ok(phase.reads > 0, p.platform);
        assert.equal(phase.readNon2xx, 0, p.platform);
        assert.equal(phase.readErrors, 0, p.platform);
        assert.ok(phase.eventLoop.samples > 0, `${p.platform}: the server sampled its event loop`);
      }
    }
  });
});
