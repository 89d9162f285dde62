import { Controller, Get, Req, ServiceUnavailableException } from '@nestjs/common';
import { findSession, Public, type RequestLike } from 'keycard/nest';
import { KeycardHealthIndicator } from 'keycard/nest/health';

const DOWN = { store: { status: 'down' } } as const;

@Controller('api/health')
export class HealthController {
  constructor(private readonly keycard: KeycardHealthIndicator) {}

  /**
   * SPEC: 200 `{status, store}` while the session store answers, 503 when it
   * does not within keycard's storeTimeout: for load balancers.
   */
  @Public()
  @Get()
  async check(@Req() request: RequestLike) {
    // keycard loaded this request's session before the handler ran: if that already found the store
    // down (a frozen Redis: the load waited the store timeout), answer now rather than wait a second
    // timeout for a ping, so health answers within the store timeout either way.
    const loaded = findSession(request);
    const result = loaded !== undefined && !loaded.available ? DOWN : await this.keycard.isStoreHealthy('store');
    if (result.store.status === 'down') {
      throw new ServiceUnavailableException({ statusCode: 503, error: 'Service Unavailable', message: 'the session store is down', status: 'unavailable', store: 'down' });
    }
    return { status: 'ok', store: 'up' };
  }

  /**
   * For operators: the terminus indicators' report of the store and of the
   * revocation channel (a lost subscription shows as `degraded`), with
   * latencies; 503 when the store is down.
   */
  @Public()
  @Get('details')
  async details() {
    const [store, revocations] = await Promise.all([
      this.keycard.isStoreHealthy('store'),
      this.keycard.isRevocationChannelHealthy('revocations'),
    ]);
    const details = { ...store, ...revocations };
    if (store.store.status === 'down') throw new ServiceUnavailableException({ status: 'error', details });
    return { status: revocations.revocations.status === 'up' ? 'ok' : 'degraded', details };
  }
}
