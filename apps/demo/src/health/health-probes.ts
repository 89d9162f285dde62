import { Injectable, type OnModuleDestroy } from '@nestjs/common';
import { SessionManager } from 'keycard';
import { KeycardHealthIndicator } from 'keycard/nest/health';
import { SharedProbe } from './shared-probe.js';

/** How long `/api/health/details` reuses its probes: an operator's view, where two seconds of staleness are harmless. */
export const DETAILS_REUSE_MS = 2000;
/** How long a store found down (a failed probe or any failed store call) is reported down without probing again. */
export const DOWN_REUSE_MS = 1000;

type StoreHealth = { readonly store: { readonly status: string } & Record<string, unknown> };
type RevocationHealth = { readonly revocations: { readonly status: string } & Record<string, unknown> };

const FAILED_CALL: StoreHealth = { store: { status: 'down', message: 'a session store call just failed or timed out' } };
const isDown = (health: StoreHealth): boolean => health.store.status === 'down';

/**
 * The health endpoints' store checks, shared by all requests (review of
 * issue 13: each unauthenticated `GET /api/health/details` made the store
 * answer a ping and a revocation-channel publish, which reaches every
 * instance). `GET /api/health`, the load balancers' contract, pings for
 * every request that finds no ping in flight (concurrent ones share it), so
 * an up answer is never stale; a store found down is reported down for
 * DOWN_REUSE_MS without probing, so an outage costs no extra round trips
 * and health answers 503 within the store timeout. The details reuse their
 * probes for DETAILS_REUSE_MS (a store found down, for DOWN_REUSE_MS).
 */
@Injectable()
export class HealthProbes implements OnModuleDestroy {
  private readonly live: SharedProbe<StoreHealth>;
  private readonly detailsStore: SharedProbe<StoreHealth>;
  private readonly detailsRevocations: SharedProbe<RevocationHealth>;
  private readonly unsubscribe: () => void;

  constructor(keycard: KeycardHealthIndicator, manager: SessionManager) {
    const store = () => keycard.isStoreHealthy('store');
    this.detailsStore = new SharedProbe<StoreHealth>(store, (health) => (isDown(health) ? DOWN_REUSE_MS : DETAILS_REUSE_MS));
    this.live = new SharedProbe<StoreHealth>(
      async () => {
        const health = await store();
        // Fresher than whatever the details hold (a store found down a moment ago): they say so too.
        if (!isDown(health)) this.detailsStore.record(health);
        return health;
      },
      (health) => (isDown(health) ? DOWN_REUSE_MS : 0),
    );
    this.detailsRevocations = new SharedProbe<RevocationHealth>(() => keycard.isRevocationChannelHealthy('revocations'), () => DETAILS_REUSE_MS);
    this.unsubscribe = manager.events.on('storeUnavailable', () => {
      this.live.record(FAILED_CALL);
      this.detailsStore.record(FAILED_CALL);
    });
  }

  /** For `GET /api/health`. */
  store(): Promise<StoreHealth> {
    return this.live.get();
  }

  /** For `GET /api/health/details`. */
  details(): Promise<[StoreHealth, RevocationHealth]> {
    return Promise.all([this.detailsStore.get(), this.detailsRevocations.get()]);
  }

  onModuleDestroy(): void {
    this.unsubscribe();
  }
}
