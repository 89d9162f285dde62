import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { signInLoad, type SignInLoadData } from '../src/reliability/sign-in-load.js';
import { redisServerSkip } from './support/services.js';

describe('reliability: sign-in-load (quick)', { skip: redisServerSkip() }, () => {
  it('run — every sign-in under load answers 200 with a working cookie, every read 200', async () => {
    const outcome = await signInLoad.run('quick');
    assert.ok(outcome.passed, outcome.problems.join('\n'));
    const data = outcome.data as SignInLoadData;
    // Each platform with the library's default limit and with 4 hashes at once, side by side.
    assert.deepEqual(
      data.platforms.map((p) => [p.platform, p.maxConcurrent]),
      [
        ['fastify', undefined],
        ['fastify', 4],
        ['express', undefined],
        ['express', 4],
      ],
    );
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
