import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Controller, Get, Module } from '@nestjs/common';
import { EventEmitterModule, OnEvent } from '@nestjs/event-emitter';
import { HealthCheck, HealthCheckService } from '@nestjs/terminus';
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { Redis } from 'ioredis';
import { LoginThrottle, MemoryRateLimitStore, MemoryStore, SessionManager, type SessionEvent } from '../src/index.js';
import { KeycardMetrics } from '../src/metrics/index.js';
import { Public } from '../src/nest/index.js';
import { KeycardEventsModule } from '../src/nest/events/index.js';
import { KeycardHealthIndicator, KeycardHealthModule } from '../src/nest/health/index.js';
import { RedisStore } from '../src/redis/index.js';
import { samplePrincipal } from '../src/testing/index.js';
import { expectStatus, startApp, type RunningApp } from './support/http.js';
import { RedisServer, redisServerSkip } from './support/redis-server.js';
import { SECRET, sessionApp } from './support/session-app.js';

// Spans are recorded in memory: registered before keycard first looks for @opentelemetry/api.
const spans = new InMemorySpanExporter();
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] }));

const skip = redisServerSkip();

/** One sample's value from Prometheus text, or 0 when the series is absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  const wanted = Object.entries(labels).map(([key, value]) => `${key}="${value}"`);
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const present = (match[3] ?? '').split(',').filter(Boolean);
    if (wanted.every((pair) => present.includes(pair)) && present.length === wanted.length) return Number(match[4]);
  }
  return 0;
}

/** Every label value in a scrape: none may be an id, a token, an e-mail or an address. */
function labelValues(text: string): string[] {
  return [...text.matchAll(/="([^"]*)"/g)].map((match) => match[1] as string);
}

async function cookieOf(manager: SessionManager, id: string): Promise<string> {
  const session = await manager.load({ secure: false, ip: '203.0.113.9', userAgent: 'probe/1.0' });
  await session.signIn({ id, roles: ['user'], authVersion: 1 });
  const headers = await manager.commit(session);
  return (headers.find(([name]) => name === 'Set-Cookie')?.[1] ?? '').split(';')[0] as string;
}

describe('KeycardMetrics', () => {
  it('counts lifecycle events, sign-in outcomes and throttling, cache lookups and store calls, with label values from fixed sets only', async () => {
    const store = new MemoryStore();
    // No session cache: the read below must be a store call (a cached read is not one), and the
    // cache lookups counted are exactly the three reported by hand.
    const manager = new SessionManager({ secrets: [SECRET], store, cache: false });
    const metrics = new KeycardMetrics();
    const stop = metrics.observe(manager);
    const throttle = new LoginThrottle({ store: new MemoryRateLimitStore(), maxAttempts: 1, window: 60, events: manager.events });

    const cookieHeader = await cookieOf(manager, 'alice@example.com');
    const read = await manager.load({ secure: false, cookieHeader });
    assert.equal(read.isAuthenticated, true);
    await read.signOut();
    // The first attempt counts against the account (a failure until recordSuccess); the second is over the limit.
    assert.equal((await throttle.check('alice@example.com', '203.0.113.9')).allowed, true);
    assert.equal((await throttle.check('alice@example.com', '203.0.113.9')).allowed, false);
    manager.events.emit({ type: 'signInFailed', handle: null, userId: null, at: 0, reason: 'alice@example.com' });
    manager.observers.cacheLookup('hit');
    manager.observers.cacheLookup('miss');
    manager.observers.cacheLookup('miss');

    const text = await metrics.metrics();
    assert.equal(sample(text, 'keycard_session_events_total', { event: 'created', reason: 'none' }), 1);
    assert.equal(sample(text, 'keycard_session_events_total', { event: 'signed_in', reason: 'none' }), 1);
    assert.equal(sample(text, 'keycard_session_events_total', { event: 'signed_out', reason: 'none' }), 1);
    assert.equal(sample(text, 'keycard_sign_ins_total', { outcome: 'succeeded' }), 1);
    assert.equal(sample(text, 'keycard_sign_ins_total', { outcome: 'throttled' }), 1);
    assert.equal(sample(text, 'keycard_sign_in_throttled_total', { scope: 'account' }), 1);
    // An application's free-form reason is counted, never shown.
    assert.equal(sample(text, 'keycard_sign_ins_total', { outcome: 'failed' }), 1);
    assert.equal(sample(text, 'keycard_session_cache_lookups_total', { result: 'hit' }), 1);
    assert.equal(sample(text, 'keycard_session_cache_lookups_total', { result: 'miss' }), 2);
    assert.equal(sample(text, 'keycard_store_call_duration_seconds_count', { operation: 'find', outcome: 'ok' }), 1);
    assert.equal(sample(text, 'keycard_store_call_duration_seconds_count', { operation: 'create', outcome: 'ok' }), 1);
    assert.equal(sample(text, 'keycard_store_call_duration_seconds_count', { operation: 'destroy', outcome: 'ok' }), 1);
    assert.equal(sample(text, 'keycard_store_up'), 1);
    assert.match(text, /# TYPE keycard_store_call_duration_seconds histogram/);
    for (const value of labelValues(text)) {
      assert.doesNotMatch(value, /@|\d+\.\d+\.\d+\.\d+|alice/, `label value ${value}`);
      assert.ok(value.length <= 48, `label value ${value}`);
    }
    stop();
  });

  it('rejects a prefix Prometheus would refuse and reasons that are not slugs', () => {
    assert.throws(() => new KeycardMetrics({ prefix: 'key-card' }), /not a valid Prometheus name prefix/);
    assert.throws(() => new KeycardMetrics({ reasons: ['a@b.c'] }), /short slug/);
  });
});

describe('traces', () => {
  it('load and commit are spans, with each store call as a child span (no id in any attribute)', async () => {
    spans.reset();
    const manager = new SessionManager({ secrets: [SECRET], store: new MemoryStore() });
    const tracer = trace.getTracer('test');
    await tracer.startActiveSpan('request', async (root) => {
      const session = await manager.load({ secure: false });
      session.set('theme', 'dark');
      await manager.commit(session);
      root.end();
    });
    const finished = spans.getFinishedSpans();
    const byName = (name: string) => finished.find((span) => span.name === name);
    const root = byName('request');
    const commit = byName('keycard.session.commit');
    const create = byName('keycard.store.create');
    assert.ok(byName('keycard.session.load') && root && commit && create, finished.map((span) => span.name).join(', '));
    assert.equal(commit.parentSpanContext?.spanId, root.spanContext().spanId);
    assert.equal(create.parentSpanContext?.spanId, commit.spanContext().spanId);
    assert.deepEqual(create.attributes, { 'keycard.store.operation': 'create' });
  });
});

interface Received {
  readonly events: SessionEvent[];
}

class ReceivedEvents {
  readonly events: SessionEvent[] = [];

  @OnEvent('keycard.session.revoked')
  revoked(event: SessionEvent): void {
    this.events.push(event);
  }
}

@Controller()
class ProbeController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly keycard: KeycardHealthIndicator,
    private readonly received: ReceivedEvents,
  ) {}

  @Public()
  @Get('health')
  @HealthCheck()
  check() {
    return this.health.check([() => this.keycard.isStoreHealthy(), () => this.keycard.isRevocationChannelHealthy()]);
  }

  @Public()
  @Get('received')
  list(): Received {
    return { events: this.received.events };
  }
}

describe('health indicator (terminus) and the event-emitter bridge, on Redis', { skip }, () => {
  let server: RedisServer;
  let client: Redis;
  let store: RedisStore;
  let app: RunningApp;

  before(async () => {
    server = await RedisServer.start();
    client = new Redis({
      host: server.host,
      port: server.port,
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: 500,
      // Reconnects slowly: a subscriber connection killed by the test stays lost for the test's duration.
      retryStrategy: () => 60_000,
    });
    client.on('error', () => undefined);
    await client.connect();
    store = new RedisStore(client, { prefix: `obs${randomBytes(3).toString('hex')}:` });
    const base = sessionApp({ store, storeTimeout: 500 });
    @Module({ imports: [KeycardHealthModule, EventEmitterModule.forRoot(), KeycardEventsModule], controllers: [ProbeController], providers: [ReceivedEvents] })
    class ObservedModule {}
    app = await startApp('express', { ...base, imports: [...(base.imports ?? []), ObservedModule] });
  });

  after(async () => {
    await app?.close();
    await store?.close();
    client?.disconnect();
    await server?.stop();
  });

  it('store up, no subscriber: 200, revocations up but not subscribed, with latencies', async () => {
    const result = await app.client().get('/health');
    expectStatus(result, 200);
    const body = result.body as { status: string; info: Record<string, { status: string; latencyMs: number; subscribed?: boolean }> };
    assert.equal(body.status, 'ok');
    assert.equal(body.info['sessionStore']?.status, 'up');
    assert.equal(typeof body.info['sessionStore']?.latencyMs, 'number');
    assert.equal(body.info['revocations']?.subscribed, false);
  });

  it('subscribed: the probe comes back, revocations up; @OnEvent("keycard.session.revoked") hears a revocation with the device', async () => {
    const manager = app.app.get(SessionManager);
    const heard: string[][] = [];
    await manager.onRevoked((handles) => heard.push([...handles]));
    const result = await app.client().get('/health');
    expectStatus(result, 200);
    const body = result.body as { info: Record<string, { status: string; subscribed?: boolean; latencyMs: number }> };
    assert.deepEqual(body.info['revocations']?.status, 'up');
    assert.equal(body.info['revocations']?.subscribed, true);
    assert.deepEqual(heard, [], 'the probe reached no revocation listener');

    const principal = samplePrincipal();
    await cookieOf(manager, principal.id);
    await manager.revokeAll(principal.id);
    const received = (await app.client().get('/received')).body as Received;
    assert.equal(received.events.length, 1);
    assert.equal(received.events[0]?.userId, principal.id);
  });

  it('subscription lost: degraded (still 200), with the reason; then store down: 503', async () => {
    await server.command('CLIENT', 'KILL', 'TYPE', 'pubsub');
    const lost = await app.client().get('/health');
    expectStatus(lost, 200);
    const body = lost.body as { status: string; info?: Record<string, { status: string; message?: string }>; details: Record<string, { status: string; message?: string }> };
    assert.equal(body.details['revocations']?.status, 'degraded', lost.text);
    assert.match(body.details['revocations']?.message ?? '', /subscription lost/);
    assert.equal(body.details['sessionStore']?.status, 'up');

    await server.kill();
    const down = await app.client().get('/health');
    expectStatus(down, 503);
    const failed = down.body as { status: string; details: Record<string, { status: string; latencyMs: number }> };
    assert.equal(failed.status, 'error');
    assert.equal(failed.details['sessionStore']?.status, 'down');
    assert.ok((failed.details['sessionStore']?.latencyMs ?? Infinity) < 1000);
  });
});
