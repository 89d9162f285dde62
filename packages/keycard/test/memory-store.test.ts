import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryStore } from '../src/index.js';
import { describeSessionStore, sampleRecord, samplePrincipal } from '../src/testing/index.js';

describeSessionStore('memory', () => new MemoryStore({ sweepInterval: 0 }));

describe('MemoryStore', () => {
  it('sweep — removes expired records and their index entries', async () => {
    const store = new MemoryStore({ sweepInterval: 0 });
    const principal = samplePrincipal();
    const now = Date.now();
    const expiring = sampleRecord({ principal, idleTimeout: 1000, idleExpiresAt: now + 1000 });
    const lasting = sampleRecord({ principal });
    await store.create(expiring);
    await store.create(lasting);
    assert.equal(store.sweep(now + 2000), 1);
    assert.equal(store.size, 1);
    assert.deepEqual((await store.listByUser(principal.id, now)).map((r) => r.id), [lasting.id]);
  });

  it('create — past maxEntries evicts the least recently written record, so it never grows', async () => {
    const store = new MemoryStore({ sweepInterval: 0, maxEntries: 3 });
    const records = Array.from({ length: 5 }, () => sampleRecord());
    for (const record of records) await store.create(record);
    assert.equal(store.size, 3);
    assert.equal(await store.find(records[0]!.id, Date.now(), Infinity), null);
    assert.equal((await store.find(records[4]!.id, Date.now(), Infinity))?.id, records[4]!.id);
  });

  it('create — serialises on write, so later mutation of the caller’s object changes nothing', async () => {
    const store = new MemoryStore({ sweepInterval: 0 });
    const data: Record<string, number[]> = { list: [1] };
    const record = sampleRecord({ data });
    await store.create(record);
    data['list']!.push(2);
    assert.deepEqual((await store.find(record.id, Date.now(), Infinity))?.data, { list: [1] });
  });

  it('constructor — rejects a maxEntries that is not a positive integer', () => {
    assert.throws(() => new MemoryStore({ maxEntries: 0 }), /maxEntries must be a positive integer/);
  });
});
