import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import pg from 'pg';
import { MemoryStore, SessionManager, StoreUnavailableError } from '../src/index.js';
import { KeycardMetrics } from '../src/metrics/index.js';
import { PostgresStore, pgPoolClient } from '../src/postgres/index.js';
import { samplePrincipal, sampleRecord } from '../src/testing/index.js';
import { SocketRegistry, closeReasonOf, type ClosableSocket } from '../src/ws/index.js';
import { DATABASE_URL, postgresSkip } from './support/services.js';

const SECRET = 'revocation-probe-secret-0123456789abcdef';

describe('revocation channel probe on PostgreSQL (LISTEN/NOTIFY)', async () => {
  const skip = await postgresSkip();
  const schema = `probe_${randomBytes(3).toString('hex')}`;
  const pool = skip ? null : new pg.Pool({ connectionString: DATABASE_URL });
  after(async () => {
    await pool?.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await pool?.end();
  });

  it('off before anyone listens, up once subscribed (no listener sees the probe), down once the LISTEN connection is lost', { skip }, async () => {
    // A reconnection a minute away: the lost LISTEN stays lost for the test's duration.
    const store = new PostgresStore({ client: pgPoolClient(pool as pg.Pool, { retryDelay: 60_000 }), schema, sweepInterval: 0 });
    await store.migrate();
    const manager = new SessionManager({ secrets: [SECRET], store, storeTimeout: 500 });
    assert.equal(await manager.revocationHealth(), 'off');

    const heard: string[] = [];
    await manager.onRevoked((handles) => heard.push(...handles));
    assert.equal(await manager.revocationHealth(), 'up');
    const record = sampleRecord({ principal: samplePrincipal() });
    await store.create(record);
    await store.destroy(record.id);
    const deadline = Date.now() + 2000;
    while (heard.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    assert.deepEqual(heard, [record.handle], 'revocations still arrive, probes never do');

    const killed = await (pool as pg.Pool).query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query = $1`,
      [`LISTEN "${store.names.channel}"`],
    );
    assert.equal(killed.rowCount, 1, 'the store’s LISTEN connection was found and ended');
    await assert.rejects(store.probeRevocations(300), StoreUnavailableError);
    assert.equal(await manager.revocationHealth(), 'down');
    // The store itself still answers: only the channel is lost.
    assert.deepEqual(await manager.health(), { store: 'up' });
    await store.close();
  });
});

describe('revocation channel probe in memory', () => {
  it('off without a listener, up with one', async () => {
    const manager = new SessionManager({ secrets: [SECRET], store: new MemoryStore() });
    assert.equal(await manager.revocationHealth(), 'off');
    await manager.onRevoked(() => undefined);
    assert.equal(await manager.revocationHealth(), 'up');
  });
});

describe('WebSocket events and metrics', () => {
  it('socketOpened / socketClosed with the reason; keycard_websockets_open follows, closes are counted by reason', async () => {
    const store = new MemoryStore();
    const manager = new SessionManager({ secrets: [SECRET], store });
    const metrics = new KeycardMetrics();
    metrics.observe(manager);
    const events: string[] = [];
    manager.events.on('*', (event) => {
      if (event.type.startsWith('socket')) events.push(`${event.type}:${event.reason ?? ''}:${event.transport}`);
    });
    const registry = new SocketRegistry(manager, { closeGrace: Infinity });
    const socket = (): ClosableSocket & { closed: number | null } => ({
      closed: null,
      close(code) {
        this.closed = code;
      },
      terminate() {},
    });
    const principal = samplePrincipal();
    const record = sampleRecord({ principal });
    await store.create(record);
    const authenticated = { handle: record.handle, principal, expiresAt: record.idleExpiresAt, authenticatedAt: null };
    const [first, second, third] = [socket(), socket(), socket()];
    registry.track(authenticated, first);
    registry.track(authenticated, second);
    registry.track({ ...authenticated, handle: 'other-handle' }, third);
    await registry.start();
    assert.match(await metrics.metrics(), /^keycard_websockets_open 3$/m);

    registry.untrack(third, closeReasonOf(1009));
    await manager.revokeAll(principal.id);
    assert.equal(first.closed, 4401);
    assert.equal(second.closed, 4401);
    // The close handshake then reaches untrack: not counted twice.
    registry.untrack(first, closeReasonOf(4401));
    const text = await metrics.metrics();
    assert.match(text, /^keycard_websockets_open 0$/m);
    assert.match(text, /^keycard_websocket_closes_total\{reason="session-ended"\} 2$/m);
    assert.match(text, /^keycard_websocket_closes_total\{reason="message-too-big"\} 1$/m);
    assert.deepEqual(events, [
      'socketOpened::websocket',
      'socketOpened::websocket',
      'socketOpened::websocket',
      'socketClosed:message-too-big:websocket',
      'socketClosed:session-ended:websocket',
      'socketClosed:session-ended:websocket',
    ]);
    await registry.close();
  });
});
