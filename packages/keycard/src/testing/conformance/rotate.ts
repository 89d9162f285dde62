import assert from 'node:assert/strict';
import { it } from 'node:test';
import { samplePrincipal, sampleRecord } from './samples.js';
import type { SuiteContext } from './context.js';

/** The conformance group for `rotate`: a new id, never a revival. */
export function describeRotate({ fresh, expectListed }: SuiteContext): void {
  it('rotate — moves the record to the new id and the user index with it', async () => {
    const store = await fresh();
    const principal = samplePrincipal();
    const record = sampleRecord({ principal, data: { keep: 'me' } });
    await store.create(record);
    const next = sampleRecord({ principal, handle: record.handle, data: { keep: 'me' }, createdAt: record.createdAt });
    assert.equal(await store.rotate(record.id, next), true);
    assert.equal(await store.find(record.id, Date.now(), Infinity), null);
    assert.deepEqual(await store.find(next.id, next.lastSeenAt, Infinity), next);
    await expectListed(store, principal.id, [next.id]);
  });

  it('rotate — an anonymous session can become a signed-in one', async () => {
    const store = await fresh();
    const record = sampleRecord();
    await store.create(record);
    const principal = samplePrincipal();
    const next = sampleRecord({ principal });
    assert.equal(await store.rotate(record.id, next), true);
    await expectListed(store, principal.id, [next.id]);
  });

  it('rotate — returns false and stores nothing when the old id is gone', async () => {
    const store = await fresh();
    const principal = samplePrincipal();
    const record = sampleRecord({ principal });
    await store.create(record);
    await store.destroy(record.id);
    const next = sampleRecord({ principal });
    assert.equal(await store.rotate(record.id, next), false);
    assert.equal(await store.find(next.id, Date.now(), Infinity), null);
    await expectListed(store, principal.id, []);
  });
}
