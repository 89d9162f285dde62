import assert from 'node:assert/strict';
import { it } from 'node:test';
import { UnsupportedOperationError } from '../../core/errors.js';
import type { SessionStore } from '../../core/store.js';
import { samplePrincipal, sampleRecord } from './samples.js';

/**
 * A guarantee some stores cannot give (adapters over foreign backends).
 * - `perUserIndex`: listByUser, revokeAll and refreshPrincipal reject with
 *   UnsupportedOperationError; the suite asserts that explicit refusal instead.
 * - `atomicUpdate`: update is read-then-write; the concurrent-writers test is
 *   skipped, since a lost key can be neither promised nor reliably provoked.
 */
export type StoreCapability = 'perUserIndex' | 'atomicUpdate';

export interface ConformanceOptions {
  /** A reason to skip the whole suite (a service that is not running), or false. */
  readonly skip?: string | false;
  /** Runs once after the suite (close shared clients, stop servers). */
  readonly teardown?: () => Promise<void>;
  /** Capabilities the store lacks. Default: none, and every test runs as written. */
  readonly lacks?: ReadonlyArray<StoreCapability>;
}

type IndexMethod = 'listByUser' | 'revokeAll' | 'refreshPrincipal';

/** What every conformance group gets: a fresh store per test, and the store's declared gaps. */
export interface SuiteContext {
  /** A fresh store for this test, closed after it. */
  readonly fresh: () => Promise<SessionStore>;
  readonly lacks: ReadonlySet<StoreCapability>;
  /** The store keeps a per-user index (it does not lack `perUserIndex`). */
  readonly indexed: boolean;
  /** The user's live session ids as listed, or, without a per-user index, the explicit refusal. */
  readonly expectListed: (store: SessionStore, userId: string, ids: readonly string[]) => Promise<void>;
  /** A test of the per-user index; without one, a test that the method refuses and changes nothing. */
  readonly itIndexed: (method: IndexMethod, behaviour: string, fn: () => Promise<void>) => void;
}

export function suiteContext(fresh: () => Promise<SessionStore>, lacks: ReadonlySet<StoreCapability>): SuiteContext {
  const indexed = !lacks.has('perUserIndex');
  const expectListed = async (store: SessionStore, userId: string, ids: readonly string[]): Promise<void> => {
    if (indexed) assert.deepEqual((await store.listByUser(userId, Date.now())).map((r) => r.id), ids);
    else await assert.rejects(store.listByUser(userId, Date.now()), UnsupportedOperationError);
  };
  const itIndexed = (method: IndexMethod, behaviour: string, fn: () => Promise<void>): void => {
    if (indexed) {
      it(`${method} — ${behaviour}`, fn);
      return;
    }
    it(`${method} — rejects with UnsupportedOperationError instead of: ${behaviour}`, async () => {
      const store = await fresh();
      const principal = samplePrincipal();
      const record = sampleRecord({ principal });
      await store.create(record);
      const call =
        method === 'listByUser'
          ? store.listByUser(principal.id, Date.now())
          : method === 'revokeAll'
            ? store.revokeAll(principal.id)
            : store.refreshPrincipal({ ...principal, roles: ['admin'] });
      await assert.rejects(call, UnsupportedOperationError);
      assert.deepEqual(await store.find(record.id, Date.now(), Infinity), record);
    });
  };
  return { fresh, lacks, indexed, expectListed, itIndexed };
}
