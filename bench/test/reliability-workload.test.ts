import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { workload, type LayoutData } from '../src/reliability/workload.js';
import { postgresSkip, redisServerSkip } from './support/services.js';

const skip = redisServerSkip() || (await postgresSkip());

describe('mixed workload with Redis killed, then hung, mid-run (quick scale)', { skip }, () => {
  it('on 2 and 3 instances with the session cache on, every answer matches the model, no instance exits, and all recover within 2 s', async () => {
    const outcome = await workload.run('quick');
    assert.ok(outcome.passed, outcome.problems.join('\n'));
    const { layouts } = outcome.data as { layouts: LayoutData[] };
    assert.deepEqual(layouts.map((layout) => layout.instances.split(' + ').length), [2, 3]);
    for (const data of layouts) {
      assert.equal(data.wrong, 0);
      // The run exercised what it claims to: every kind of operation, and the outage on every instance.
      for (const operation of ['register', 'read', 'list', 'revoke', 'signIn', 'signOut', 'password', 'readDead']) {
        assert.ok((data.operations[operation] ?? 0) > 0, `${data.instances}: no ${operation} operation ran`);
      }
      // Each instance's session cache was on and answered reads.
      assert.equal(data.cache.length, data.windows.length);
      for (const lookups of data.cache) assert.ok(lookups.hit > 0, `${data.instances}: a cache answered no read`);
      // Both faults reached every instance, and every instance came back.
      for (const windows of [data.windows, data.hangWindows]) {
        assert.equal(windows.length, data.instances.split(' + ').length);
        for (const window of windows) assert.notEqual(window.backAfterRestartMs, undefined);
      }
    }
  });
});
