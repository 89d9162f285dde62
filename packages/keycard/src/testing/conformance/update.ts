import assert from 'node:assert/strict';
import { it } from 'node:test';
import { samplePrincipal, sampleRecord } from './samples.js';
import type { SuiteContext } from './context.js';

/** The conformance group for `update`: changed keys only, never a resurrection. */
export function describeUpdate({ fresh, lacks, expectListed }: SuiteContext): void {
  it('update — sets and removes only the named keys', async () => {
    const store = await fresh();
    const record = sampleRecord({ data: { a: 1, b: 2, c: 3 } });
    await store.create(record);
    assert.equal(await store.update(record.id, { set: { a: 10, d: { x: [1] } }, unset: ['b'] }), true);
    assert.deepEqual((await store.find(record.id, Date.now(), Infinity))?.data, { a: 10, c: 3, d: { x: [1] } });
  });

  const notAtomic = lacks.has('atomicUpdate') && 'the store lacks atomicUpdate: its update is read-then-write';
  it('update — concurrent writers of different keys both win', { skip: notAtomic }, async () => {
    const store = await fresh();
    const record = sampleRecord({ data: { base: true } });
    await store.create(record);
    const writes = Array.from({ length: 20 }, (_, i) => store.update(record.id, { set: { [`k${i}`]: i } }));
    assert.deepEqual(await Promise.all(writes), Array(20).fill(true));
    const data = (await store.find(record.id, Date.now(), Infinity))?.data ?? {};
    assert.equal(Object.keys(data).length, 21);
    for (let i = 0; i < 20; i++) assert.equal(data[`k${i}`], i);
  });

  it('update — leaves expiry and metadata alone', async () => {
    const store = await fresh();
    const record = sampleRecord({ principal: samplePrincipal() });
    await store.create(record);
    await store.update(record.id, { set: { x: 1 } });
    const found = await store.find(record.id, Date.now(), Infinity);
    assert.deepEqual({ ...found, data: {} }, { ...record, data: {} });
  });

  it('update — returns false for an unknown id and creates nothing', async () => {
    const store = await fresh();
    const id = sampleRecord().id;
    assert.equal(await store.update(id, { set: { x: 1 } }), false);
    assert.equal(await store.find(id, Date.now(), Infinity), null);
  });

  it('update — after destroy returns false and never resurrects', async () => {
    const store = await fresh();
    const record = sampleRecord({ principal: samplePrincipal() });
    await store.create(record);
    await store.destroy(record.id);
    assert.equal(await store.update(record.id, { set: { x: 1 } }), false);
    assert.equal(await store.find(record.id, Date.now(), Infinity), null);
    await expectListed(store, record.principal?.id ?? '', []);
  });

  it('update — after rotate returns false for the old id', async () => {
    const store = await fresh();
    const record = sampleRecord({ data: { a: 1 } });
    await store.create(record);
    const next = { ...sampleRecord(), handle: record.handle, data: { a: 1 } };
    assert.equal(await store.rotate(record.id, next), true);
    assert.equal(await store.update(record.id, { set: { a: 2 } }), false);
    assert.equal(await store.find(record.id, Date.now(), Infinity), null);
    assert.deepEqual((await store.find(next.id, Date.now(), Infinity))?.data, { a: 1 });
  });

  it('update — can clear the rotation flag', async () => {
    const store = await fresh();
    const record = sampleRecord({ rotationDue: true });
    await store.create(record);
    assert.equal(await store.update(record.id, { rotationDue: false }), true);
    assert.equal((await store.find(record.id, Date.now(), Infinity))?.rotationDue, false);
  });
}
