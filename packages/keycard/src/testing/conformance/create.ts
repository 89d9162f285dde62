import assert from 'node:assert/strict';
import { it } from 'node:test';
import { SessionExistsError } from '../../core/errors.js';
import { samplePrincipal, sampleRecord } from './samples.js';
import type { SuiteContext } from './context.js';

/** The conformance group for `create` (and the round trip through `find`). */
export function describeCreate({ fresh }: SuiteContext): void {
  it('create/find — round-trips every field', async () => {
    const store = await fresh();
    const principal = samplePrincipal({ roles: ['user', 'admin'], claims: { name: 'Zoë', n: 3 } });
    const record = sampleRecord({
      principal,
      data: { cart: [1, 'two', { three: true }], note: 'ünïcødé ✓', empty: null, n: 1.5 },
      authenticatedAt: Date.now() - 1000,
      remember: true,
      userAgent: 'Mozilla/5.0',
      ip: '203.0.113.7',
    });
    await store.create(record);
    assert.deepEqual(await store.find(record.id, record.lastSeenAt, Infinity), record);
  });

  it('create — rejects an id that is taken', async () => {
    const store = await fresh();
    const record = sampleRecord();
    await store.create(record);
    await assert.rejects(store.create({ ...record, handle: 'other' }), SessionExistsError);
    assert.equal((await store.find(record.id, Date.now(), Infinity))?.handle, record.handle);
  });
}
