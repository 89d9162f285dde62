import { after, afterEach } from 'node:test';

/**
 * A fresh store per test, closed after it, and the suite's teardown: what
 * every conformance suite (session stores, rate-limit stores) sets up the same way.
 */
export function freshStores<S extends { close(): Promise<void> }>(
  makeStore: () => S | Promise<S>,
  teardown: (() => Promise<void>) | undefined,
): () => Promise<S> {
  const open: S[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((store) => store.close()));
  });
  if (teardown) after(teardown);
  return async () => {
    const store = await makeStore();
    open.push(store);
    return store;
  };
}
