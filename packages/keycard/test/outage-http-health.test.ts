import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryStore, SessionManager } from '../src/index.js';
import { DownStore } from './support/stores.js';
import { timed, watchProcessFailures } from './support/poll.js';

const SECRET = 'health-test-secret-0123456789abcdef';
const STORE_TIMEOUT = 100;

// SessionManager.health(): what a readiness probe (GET /health) calls. The HTTP outage
// suites (outage-http-redis, outage-http-postgres) show it going down and up against real
// servers; these pin its contract with the stores of test/support/stores.ts.
describe('SessionManager.health', () => {
  it('health — a store that answers ping is up', async () => {
    const manager = new SessionManager({ secrets: SECRET, store: new MemoryStore({ sweepInterval: 0 }), storeTimeout: STORE_TIMEOUT });
    assert.deepEqual(await manager.health(), { store: 'up' });
  });

  it('health — a store that refuses is down at once, without throwing', async () => {
    const store = new DownStore('reject');
    const manager = new SessionManager({ secrets: SECRET, store, storeTimeout: STORE_TIMEOUT });
    const { value, ms } = await timed(() => manager.health());
    assert.deepEqual(value, { store: 'down' });
    assert.equal(store.calls, 1, 'one ping');
    assert.ok(ms < STORE_TIMEOUT, `took ${ms.toFixed(0)} ms`);
  });

  it('health — a store that never answers is down at storeTimeout, not later, and leaves no unhandled rejection', async () => {
    const failures = watchProcessFailures();
    const manager = new SessionManager({ secrets: SECRET, store: new DownStore('hang'), storeTimeout: STORE_TIMEOUT });
    const { value, ms } = await timed(() => manager.health());
    assert.deepEqual(value, { store: 'down' });
    assert.ok(ms >= STORE_TIMEOUT - 5, `answered after ${ms.toFixed(0)} ms, before the deadline`);
    assert.ok(ms < STORE_TIMEOUT + 400, `answered after ${ms.toFixed(0)} ms`);
    assert.deepEqual(await failures.stop(), []);
  });
});
