import assert from 'node:assert/strict';
import { it } from 'node:test';
import { samplePrincipal, sampleRecord } from './samples.js';
import type { SuiteContext } from './context.js';

/** The conformance group for `destroy`. */
export function describeDestroy({ fresh, expectListed }: SuiteContext): void {
  it('destroy — removes the record once and reports whether it existed', async () => {
    const store = await fresh();
    const principal = samplePrincipal();
    const record = sampleRecord({ principal });
    await store.create(record);
    assert.equal(await store.destroy(record.id), true);
    assert.equal(await store.destroy(record.id), false);
    assert.equal(await store.find(record.id, Date.now(), Infinity), null);
    await expectListed(store, principal.id, []);
  });
}
