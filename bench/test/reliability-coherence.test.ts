import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { coherence, type LayoutCounts } from '../src/reliability/coherence.js';
import { redisServerSkip } from './support/services.js';

describe('coherence experiment (quick scale)', { skip: redisServerSkip() }, () => {
  it('with the session cache on, no instance accepts a session signed out, revoked, rotated away or re-roled on another', async () => {
    const outcome = await coherence.run('quick');
    assert.ok(outcome.passed, outcome.problems.join('\n'));
    const { trials, layouts } = outcome.data as { trials: number; layouts: LayoutCounts[] };
    assert.deepEqual(layouts.map((layout) => layout.instances.split(' + ').length), [2, 3]);
    for (const layout of layouts) {
      const readers = layout.instances.split(' + ').length - 1;
      assert.equal(layout.checked.signOut, trials * readers);
      assert.equal(layout.checked.password, 2 * trials * readers);
      for (const count of Object.values(layout.accepted)) assert.equal(count, 0, layout.instances);
      assert.ok(layout.load.requests > 0, 'the loaded instance was under load');
    }
  });
});
