import { Injectable, Module } from '@nestjs/common';
import { HealthIndicatorService, TerminusModule } from '@nestjs/terminus';
import { SessionManager } from '../../core/manager.js';

/** Milliseconds with one decimal: enough for a dashboard, stable in a JSON body. */
const since = (started: number): number => Math.round((performance.now() - started) * 10) / 10;

/**
 * keycard's checks for `@nestjs/terminus` (its `HealthIndicatorService` API):
 *
 * - `isStoreHealthy()`: the session store answers `ping` within
 *   `storeTimeout` — `up`, or `down` (the check fails: 503).
 * - `isRevocationChannelHealthy()`: a probe published on the revocation
 *   channel (Redis pub/sub, PostgreSQL LISTEN/NOTIFY) came back through this
 *   process's subscription. `up`; `up` with `subscribed: false` when nothing
 *   here subscribes (no WebSockets); `degraded` when the subscription is
 *   lost — this instance still serves requests, but sign-outs on other
 *   instances no longer close its WebSockets at once (only at their next
 *   re-check), which nothing else would show.
 *
 * Both report `latencyMs`. Import `KeycardHealthModule` next to
 * `SessionModule` and `TerminusModule`:
 *
 * ```ts
 * @Get('health') @HealthCheck()
 * check() {
 *   return this.health.check([() => this.keycard.isStoreHealthy(), () => this.keycard.isRevocationChannelHealthy()]);
 * }
 * ```
 */
@Injectable()
export class KeycardHealthIndicator {
  constructor(
    private readonly manager: SessionManager,
    private readonly indicators: HealthIndicatorService,
  ) {}

  async isStoreHealthy<const Key extends string = 'sessionStore'>(key: Key = 'sessionStore' as Key) {
    const indicator = this.indicators.check(key);
    const started = performance.now();
    const { store } = await this.manager.health();
    const latencyMs = since(started);
    return store === 'up'
      ? indicator.up({ latencyMs })
      : indicator.down({ latencyMs, message: `the session store did not answer within ${this.manager.options.storeTimeoutMs} ms` });
  }

  async isRevocationChannelHealthy<const Key extends string = 'revocations'>(key: Key = 'revocations' as Key) {
    const indicator = this.indicators.check(key);
    const started = performance.now();
    const state = await this.manager.revocationHealth();
    const latencyMs = since(started);
    if (state === 'up') return indicator.up({ latencyMs, subscribed: true });
    if (state === 'off') return indicator.up({ latencyMs, subscribed: false });
    return indicator.degraded({
      latencyMs,
      message: 'revocations published by other instances do not reach this one (subscription lost)',
    });
  }
}

/** Provides `KeycardHealthIndicator` (needs `SessionModule`, which is global). */
@Module({ imports: [TerminusModule], providers: [KeycardHealthIndicator], exports: [KeycardHealthIndicator, TerminusModule] })
export class KeycardHealthModule {}
