import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { footprint, type FootprintData } from '../src/reliability/footprint.js';
import { redisServerSkip } from './support/services.js';

describe('reliability: footprint (quick)', { skip: redisServerSkip() }, () => {
  it('run — measures both layouts under both configurations, every invariant held', async () => {
    const outcome = await footprint.run('quick');
    assert.ok(outcome.passed, outcome.problems.join('\n'));
    const data = outcome.data as FootprintData;
    assert.deepEqual(data.configs.map((c) => c.config), ['default', 'raised-listpack']);
    for (const config of data.configs) {
      assert.deepEqual(config.keycard.map((k) => k.sessionsPerUser), [1, 10]);
      for (const layout of config.keycard) {
        assert.ok(layout.hashBytes > 0 && layout.indexBytes > 0, `${config.config}: keycard bytes measured`);
        // The index is shared: a user with 10 sessions pays less per session than a user with one.
        assert.equal(layout.bytesPerSession, layout.hashBytes + layout.indexBytes / layout.sessionsPerUser);
      }
      assert.deepEqual(config.connect.map((c) => c.variant), ['user-object', 'user-id']);
      for (const layout of config.connect) assert.ok(layout.bytesPerSession > 0, `${config.config}: connect-redis ${layout.variant} measured`);
      assert.equal(config.bulk.length, 3);
    }
    const [defaults, raised] = data.configs;
    // A signed-in hash holds values over 64 bytes (principal JSON, user agent): hashtable by default, listpack when raised.
    assert.equal(defaults?.keycard[0]?.hashEncoding, 'hashtable');
    assert.equal(raised?.keycard[0]?.hashEncoding, 'listpack');
    assert.ok(outcome.figures.some((f) => f.label.startsWith('ratio keycard / connect-redis')));
  });
});
