import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { InvalidOptionsError } from '../core/errors.js';
import type { SessionEvent } from '../core/events.js';
import type { SessionManager } from '../core/manager.js';
import type { StoreCall } from '../core/observe.js';

export interface KeycardMetricsOptions {
  /**
   * Where the metrics are registered. Default: a registry of their own, served
   * by `metrics()`. Pass prom-client's global `register` to serve keycard's
   * metrics next to the application's.
   */
  readonly registry?: Registry;
  /** Prefix of every metric name. Default `keycard_`. */
  readonly prefix?: string;
  /** Buckets of the store-call latency histogram, in seconds. Default 0.5 ms to 2.5 s. */
  readonly buckets?: readonly number[];
  /**
   * Reasons the application gives its own events (e.g. `signInFailed` with
   * `reason: 'bad-password'`) that may appear as label values. Anything else
   * is counted under `other`: a label never carries a free-form string, so
   * never an id, token, e-mail or address.
   */
  readonly reasons?: readonly string[];
}

const DEFAULT_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/** Reasons keycard itself uses, the only label values taken from events as they are. */
const KNOWN_REASONS = new Set([
  'revoked',
  'session-limit',
  'throttled',
  'bad-password',
  'unknown-user',
  'KEYCARD_CSRF_CROSS_SITE',
  'KEYCARD_CSRF_MISSING',
  'KEYCARD_CSRF_INVALID',
  'session-ended',
  'session-expired',
  'store-unavailable',
  'shutdown',
  'message-too-big',
  'policy-violation',
  'rate-limited',
  'closed',
]);
const OPERATIONS = new Set(['find', 'create', 'update', 'rotate', 'destroy', 'listByUser', 'revokeAll', 'refreshPrincipal', 'ping']);
const LABEL_SAFE = /^[A-Za-z][A-Za-z0-9_-]{0,47}$/;

/** Lifecycle event types as label values, in Prometheus' snake_case. */
const LIFECYCLE: Partial<Record<SessionEvent['type'], string>> = {
  created: 'created',
  signedIn: 'signed_in',
  rotated: 'rotated',
  expired: 'expired',
  destroyed: 'signed_out',
  revoked: 'revoked',
};

/**
 * keycard's metrics for Prometheus, through prom-client (an optional peer
 * dependency). Names and labels follow Prometheus' conventions (base units,
 * `_total` counters, snake_case); label values come from fixed sets only.
 *
 * | metric | type | labels |
 * | --- | --- | --- |
 * | `keycard_session_events_total` | counter | `event` (created, signed_in, rotated, expired, signed_out, revoked), `reason` |
 * | `keycard_sign_ins_total` | counter | `outcome` (succeeded, failed, throttled) |
 * | `keycard_sign_in_throttled_total` | counter | `scope` (account, ip) |
 * | `keycard_csrf_refusals_total` | counter | `code` |
 * | `keycard_store_call_duration_seconds` | histogram | `operation`, `outcome` (ok, unavailable, timeout, not_durable) |
 * | `keycard_store_up` | gauge | — (1 when the store answered its last call and the scrape's ping, else 0) |
 * | `keycard_session_cache_lookups_total` | counter | `result` (hit, miss) |
 * | `keycard_websockets_open` | gauge | — |
 * | `keycard_websocket_closes_total` | counter | `reason` |
 *
 * ```ts
 * const metrics = new KeycardMetrics();
 * metrics.observe(manager);
 * // GET /metrics: res.type(metrics.contentType).send(await metrics.metrics())
 * ```
 */
export class KeycardMetrics {
  readonly registry: Registry;
  private readonly reasons: ReadonlySet<string>;
  private readonly sessionEvents: Counter<'event' | 'reason'>;
  private readonly signIns: Counter<'outcome'>;
  private readonly throttled: Counter<'scope'>;
  private readonly csrf: Counter<'code'>;
  private readonly storeCalls: Histogram<'operation' | 'outcome'>;
  private readonly storeUp: Gauge;
  private readonly cache: Counter<'result'>;
  private readonly socketsOpen: Gauge;
  private readonly socketCloses: Counter<'reason'>;
  private readonly managers = new Set<SessionManager>();

  constructor(options: KeycardMetricsOptions = {}) {
    const prefix = options.prefix ?? 'keycard_';
    if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(prefix)) {
      throw new InvalidOptionsError(`keycard: metrics prefix ${JSON.stringify(prefix)} is not a valid Prometheus name prefix`);
    }
    const buckets = [...(options.buckets ?? DEFAULT_BUCKETS)];
    if (buckets.length === 0 || buckets.some((bucket, i) => !(bucket > 0) || (i > 0 && bucket <= (buckets[i - 1] as number)))) {
      throw new InvalidOptionsError('keycard: metrics buckets must be positive and increasing');
    }
    for (const reason of options.reasons ?? []) {
      if (!LABEL_SAFE.test(reason)) throw new InvalidOptionsError(`keycard: metrics reason ${JSON.stringify(reason)} must be a short slug`);
    }
    this.reasons = new Set([...KNOWN_REASONS, ...(options.reasons ?? [])]);
    const registry = options.registry ?? new Registry();
    this.registry = registry;
    const registers = [registry];
    this.sessionEvents = new Counter({
      name: `${prefix}session_events_total`,
      help: 'Session lifecycle events by type and reason',
      labelNames: ['event', 'reason'],
      registers,
    });
    this.signIns = new Counter({ name: `${prefix}sign_ins_total`, help: 'Sign-in attempts by outcome', labelNames: ['outcome'], registers });
    this.throttled = new Counter({
      name: `${prefix}sign_in_throttled_total`,
      help: 'Sign-in attempts refused by the login throttle, by the limit that refused them',
      labelNames: ['scope'],
      registers,
    });
    this.csrf = new Counter({ name: `${prefix}csrf_refusals_total`, help: 'Requests refused by the CSRF check, by error code', labelNames: ['code'], registers });
    this.storeCalls = new Histogram({
      name: `${prefix}store_call_duration_seconds`,
      help: 'Session store calls by operation and outcome',
      labelNames: ['operation', 'outcome'],
      buckets,
      registers,
    });
    const managers = this.managers;
    this.storeUp = new Gauge({
      name: `${prefix}store_up`,
      help: 'Whether the session store answers (1) or not (0): its last call, and a ping at each scrape',
      registers,
      async collect() {
        if (managers.size === 0) return;
        const health = await Promise.all([...managers].map((manager) => manager.health()));
        this.set(health.every((entry) => entry.store === 'up') ? 1 : 0);
      },
    });
    this.cache = new Counter({
      name: `${prefix}session_cache_lookups_total`,
      help: 'Session cache lookups by result',
      labelNames: ['result'],
      registers,
    });
    this.socketsOpen = new Gauge({ name: `${prefix}websockets_open`, help: 'Signed-in WebSockets open now', registers });
    this.socketCloses = new Counter({
      name: `${prefix}websocket_closes_total`,
      help: 'Signed-in WebSockets closed, by reason',
      labelNames: ['reason'],
      registers,
    });
  }

  /** The Content-Type of `metrics()`: Prometheus' text exposition format. */
  get contentType(): string {
    return this.registry.contentType;
  }

  /** The text a `GET /metrics` answers. */
  metrics(): Promise<string> {
    return this.registry.metrics();
  }

  /** Counts what `manager` (and the throttle, guards and sockets reporting to its events) does. Returns the function that stops. */
  observe(manager: SessionManager): () => void {
    this.managers.add(manager);
    const stops = [
      manager.events.on('*', (event) => this.count(event)),
      manager.observers.onStoreCall((call) => this.storeCall(call)),
      manager.observers.onCacheLookup((result) => this.cache.inc({ result }, 1)),
    ];
    return () => {
      this.managers.delete(manager);
      for (const stop of stops) stop();
    };
  }

  private storeCall(call: StoreCall): void {
    const operation = OPERATIONS.has(call.operation) ? call.operation : 'other';
    this.storeCalls.observe({ operation, outcome: call.outcome }, call.seconds);
    if (call.outcome === 'ok' || call.outcome === 'not_durable') this.storeUp.set(1);
    else this.storeUp.set(0);
  }

  private count(event: SessionEvent): void {
    const lifecycle = LIFECYCLE[event.type];
    if (lifecycle !== undefined) {
      this.sessionEvents.inc({ event: lifecycle, reason: this.reason(event.reason) });
      if (event.type === 'signedIn') this.signIns.inc({ outcome: 'succeeded' });
      return;
    }
    switch (event.type) {
      case 'signInFailed':
        if (event.reason === 'throttled') {
          this.signIns.inc({ outcome: 'throttled' });
          if (event.scope) this.throttled.inc({ scope: event.scope });
        } else {
          this.signIns.inc({ outcome: 'failed' });
        }
        return;
      case 'csrfRefused':
        this.csrf.inc({ code: this.reason(event.reason) });
        return;
      case 'socketOpened':
        this.socketsOpen.inc();
        return;
      case 'socketClosed':
        this.socketsOpen.dec();
        this.socketCloses.inc({ reason: this.reason(event.reason) });
        return;
      default:
        // storeUnavailable is counted by the store-call histogram's outcome.
        return;
    }
  }

  /** A label value from the fixed sets, else `other` (or `none` when there is no reason). */
  private reason(reason: string | undefined): string {
    if (reason === undefined) return 'none';
    return this.reasons.has(reason) ? reason : 'other';
  }
}
