import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { workload } from '../src/reliability/workload.js';
import { postgresSkip, redisServerSkip } from './support/services.js';

const skip = redisServerSkip() || (await postgresSkip());

describe('mixed workload with Redis killed, then hung, mid-run (quick scale)', { skip }, () => {
  it('every answer matches the model, no instance exits, and both recover within 2 s', async () => {
    const outcome = await workload.run('quick');
    assert.ok(outcome.passed, outcome.problems.join('\n'));
    type Window = { backAfterRestartMs?: number };
    const data = outcome.data as { wrong: number; operations: Record<string, number>; windows: Window[]; hangWindows: Window[] };
    assert.equal(data.wrong, 0);
    // The run exercised what it claims to: every kind of operation, and the outage on both instances.
    for (const operation of ['register', 'read', 'list', 'revoke', 'signIn', 'signOut', 'password', 'readDead']) {
      assert.ok((data.operations[operation] ?? 0) > 0, `no ${operation} operation ran`);
    }
    // Both faults reached both instances, and both came back.
    for (const windows of [data.windows, data.hangWindows]) {
      assert.equal(windows.length, 2);
      for (const window of windows) assert.notEqual(window.backAfterRestartMs, undefined);
    }
  });
});
