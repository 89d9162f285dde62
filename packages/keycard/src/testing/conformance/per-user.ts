import assert from 'node:assert/strict';
import type { Principal } from '../../core/record.js';
import { samplePrincipal, sampleRecord } from './samples.js';
import type { SuiteContext } from './context.js';

/** The conformance group for the per-user index: `listByUser`, `revokeAll`, `refreshPrincipal`. */
export function describePerUser({ fresh, itIndexed }: SuiteContext): void {
  itIndexed('listByUser', 'lists only that user’s live sessions, oldest first', async () => {
    const store = await fresh();
    const now = Date.now();
    const alice = samplePrincipal();
    const bob = samplePrincipal();
    const second = sampleRecord({ principal: alice, createdAt: now - 1000, userAgent: 'phone', ip: '::1' });
    const first = sampleRecord({ principal: alice, createdAt: now - 2000 });
    const expired = sampleRecord({ principal: alice, idleExpiresAt: now + 500, idleTimeout: 500 });
    await store.create(second);
    await store.create(first);
    await store.create(expired);
    await store.create(sampleRecord({ principal: bob }));
    await store.create(sampleRecord());
    const listed = await store.listByUser(alice.id, now + 1000);
    assert.deepEqual(listed.map((r) => r.id), [first.id, second.id]);
    assert.deepEqual(listed[1], second);
  });

  itIndexed('listByUser', 'returns an empty list for a user without sessions', async () => {
    const store = await fresh();
    assert.deepEqual(await store.listByUser(samplePrincipal().id, Date.now()), []);
  });

  itIndexed('revokeAll', 'ends every session of the user and returns their handles', async () => {
    const store = await fresh();
    const alice = samplePrincipal();
    const bob = samplePrincipal();
    const a1 = sampleRecord({ principal: alice });
    const a2 = sampleRecord({ principal: alice });
    const b1 = sampleRecord({ principal: bob });
    for (const r of [a1, a2, b1]) await store.create(r);
    const handles = await store.revokeAll(alice.id);
    assert.deepEqual([...handles].sort(), [a1.handle, a2.handle].sort());
    assert.equal(await store.find(a1.id, Date.now(), Infinity), null);
    assert.equal(await store.find(a2.id, Date.now(), Infinity), null);
    assert.equal(await store.update(a2.id, { set: { x: 1 } }), false);
    assert.deepEqual(await store.listByUser(alice.id, Date.now()), []);
    assert.equal((await store.find(b1.id, Date.now(), Infinity))?.id, b1.id);
  });

  itIndexed('revokeAll', 'keeps the excepted session', async () => {
    const store = await fresh();
    const alice = samplePrincipal();
    const keep = sampleRecord({ principal: alice });
    const drop = sampleRecord({ principal: alice });
    await store.create(keep);
    await store.create(drop);
    assert.deepEqual(await store.revokeAll(alice.id, keep.id), [drop.handle]);
    assert.deepEqual((await store.listByUser(alice.id, Date.now())).map((r) => r.id), [keep.id]);
  });

  itIndexed('revokeAll', 'returns an empty list for a user without sessions', async () => {
    const store = await fresh();
    assert.deepEqual(await store.revokeAll(samplePrincipal().id), []);
  });

  itIndexed('refreshPrincipal', 'replaces the principal of each live session and flags rotation', async () => {
    const store = await fresh();
    const alice = samplePrincipal();
    const bob = samplePrincipal();
    const a1 = sampleRecord({ principal: alice, data: { kept: 1 } });
    const a2 = sampleRecord({ principal: alice });
    const b1 = sampleRecord({ principal: bob });
    for (const r of [a1, a2, b1]) await store.create(r);
    const promoted: Principal = { ...alice, roles: ['user', 'admin'], authVersion: 2 };
    assert.equal(await store.refreshPrincipal(promoted), 2);
    for (const r of [a1, a2]) {
      const found = await store.find(r.id, Date.now(), Infinity);
      assert.deepEqual(found?.principal, promoted);
      assert.equal(found?.rotationDue, true);
    }
    assert.deepEqual((await store.find(a1.id, Date.now(), Infinity))?.data, { kept: 1 });
    const untouched = await store.find(b1.id, Date.now(), Infinity);
    assert.deepEqual(untouched?.principal, bob);
    assert.equal(untouched?.rotationDue, false);
  });
}
