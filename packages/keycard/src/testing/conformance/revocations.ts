import assert from 'node:assert/strict';
import { it } from 'node:test';
import { samplePrincipal, sampleRecord, subscribeOnce } from './samples.js';
import type { SuiteContext } from './context.js';

/** The conformance group for `onRevoked`: what is published, and what is not. */
export function describeRevocations({ fresh, indexed }: SuiteContext): void {
  it('onRevoked — publishes the handle of a destroyed session', async () => {
    const store = await fresh();
    const record = sampleRecord({ principal: samplePrincipal() });
    await store.create(record);
    const { first: published } = await subscribeOnce(store);
    await store.destroy(record.id);
    assert.deepEqual(await published, [record.handle]);
  });

  const revokedBy = indexed ? 'revokeAll' : 'destroy (no per-user index)';
  it(`onRevoked — publishes ${revokedBy}, and not a rotation`, async () => {
    const store = await fresh();
    const alice = samplePrincipal();
    const rotated = sampleRecord({ principal: alice });
    const revoked = sampleRecord({ principal: samplePrincipal() });
    await store.create(rotated);
    await store.create(revoked);
    const { first: published } = await subscribeOnce(store);
    await store.rotate(rotated.id, sampleRecord({ principal: alice, handle: rotated.handle }));
    if (indexed) await store.revokeAll(revoked.principal?.id ?? '');
    else await store.destroy(revoked.id);
    assert.deepEqual(await published, [revoked.handle]);
  });
}
