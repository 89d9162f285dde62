import { it } from 'node:test';
import type { SuiteContext } from './context.js';

/** The conformance group for `ping`. */
export function describePing({ fresh }: SuiteContext): void {
  it('ping — resolves while the backend is up', async () => {
    const store = await fresh();
    await store.ping();
  });
}
