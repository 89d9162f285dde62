import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { coherence, type LayoutCounts } from '../src/reliability/coherence.js';
import { redisServerSkip } from './support/services.js';

describe('coherence experiment (quick scale)', { skip: redisServerSkip() }, () => {
  it('with the session cache on, no instance accepts a session signed out, revoked, rotated away or re-roled on another', async () => {
    const outcome = await coherence.run('quick');
    assert.ok(outcome.passed, outcome.problems.join('\n'));
    const { layouts } = outcome.data as { layouts: LayoutCounts[] };
    const real = layouts.filter((layout) => !layout.control);
    assert.deepEqual(real.map((layout) => layout.instances.split(' + ').length), [2, 3]);
    for (const layout of real) {
      const readers = layout.instances.split(' + ').length - 1;
      assert.equal(layout.checked.signOut, layout.trials * readers);
      assert.equal(layout.checked.password, 2 * layout.trials * readers);
      for (const count of Object.values(layout.accepted)) assert.equal(count, 0, layout.instances);
      // Every trial's session was in every reader's cache before the change (5 cookies per trial: 1+1+2+1).
      assert.equal(layout.cached, 5 * layout.trials * readers, layout.instances);
      for (const cache of layout.caches) assert.ok(cache.stats !== null && cache.stats.hits > 0, `${cache.reader}: the cache is on and answers`);
      assert.ok(layout.load.requests > 0, 'the loaded instance was under load');
    }
    // The negative control: a cache that hears nothing of the writer is caught on every kind of change.
    const control = layouts.find((layout) => layout.control);
    assert.ok(control, 'the control ran');
    for (const [kind, count] of Object.entries(control.accepted)) assert.ok(count > 0, `the harness saw the stale cache after ${kind}`);
  });
});
