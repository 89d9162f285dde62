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

  if (indexed) {
    it('onRevoked — publishes a principal refresh as the user, with no handle (open sockets re-read their roles)', async () => {
      const store = await fresh();
      const alice = samplePrincipal();
      await store.create(sampleRecord({ principal: alice }));
      let settle: (heard: { handles: readonly string[]; user?: string }) => void = () => {};
      const heard = new Promise<{ handles: readonly string[]; user?: string }>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no principal refresh published within 2000 ms')), 2000);
        settle = (value) => {
          clearTimeout(timer);
          resolve(value);
        };
      });
      const unsubscribe = await store.onRevoked((handles, user) => settle(user === undefined ? { handles } : { handles, user }));
      try {
        assert.equal(await store.refreshPrincipal({ ...alice, roles: ['admin'] }), 1);
        assert.deepEqual(await heard, { handles: [], user: alice.id });
      } finally {
        await unsubscribe();
      }
    });
  }
}
