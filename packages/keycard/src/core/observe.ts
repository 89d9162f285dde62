/**
 * What the session manager reports besides lifecycle events: each store call
 * (for latency histograms and store availability) and each lookup in a
 * session cache. Values only — an operation name, an outcome, a duration —
 * never an id, token or address, so an observer can turn them into metric
 * labels as they are.
 */

/** How a store call ended. `not_durable`: a security write no replica acknowledged in time (still a 503). */
export type StoreCallOutcome = 'ok' | 'unavailable' | 'timeout' | 'not_durable';

export interface StoreCall {
  /** The store method: `find`, `create`, `update`, `rotate`, `destroy`, `listByUser`, `revokeAll`, `refreshPrincipal`, `ping`. */
  readonly operation: string;
  readonly outcome: StoreCallOutcome;
  /** Wall time of the call, in seconds (Prometheus' base unit). */
  readonly seconds: number;
}

/** A lookup in an in-process session cache: served from it (`hit`) or from the store (`miss`). */
export type CacheLookup = 'hit' | 'miss';

type Listener<T> = (value: T) => void;

/** Subscribers to store calls and cache lookups; a listener that throws is isolated from the request. */
export class Observers {
  private readonly storeCalls = new Set<Listener<StoreCall>>();
  private readonly cacheLookups = new Set<Listener<CacheLookup>>();

  /** Every store call the manager makes. Returns the unsubscribe function. */
  onStoreCall(listener: Listener<StoreCall>): () => void {
    this.storeCalls.add(listener);
    return () => this.storeCalls.delete(listener);
  }

  /** Every session-cache lookup (reported by the cache through `cacheLookup`). Returns the unsubscribe function. */
  onCacheLookup(listener: Listener<CacheLookup>): () => void {
    this.cacheLookups.add(listener);
    return () => this.cacheLookups.delete(listener);
  }

  /** Whether anyone listens to store calls: the manager skips the clock reads otherwise. */
  get observingStoreCalls(): boolean {
    return this.storeCalls.size > 0;
  }

  /** @internal Reported by the manager. */
  storeCall(call: StoreCall): void {
    notify(this.storeCalls, call);
  }

  /** Reported by a session cache on each lookup (the hook for keycard's cache and for custom ones). */
  cacheLookup(result: CacheLookup): void {
    notify(this.cacheLookups, result);
  }
}

function notify<T>(listeners: ReadonlySet<Listener<T>>, value: T): void {
  for (const listener of listeners) {
    try {
      listener(value);
    } catch {
      // Metrics failing must not fail the request.
    }
  }
}
