import { Controller, Get, ServiceUnavailableException } from '@nestjs/common';
import { Public } from 'keycard/nest';
import { KeycardHealthIndicator } from 'keycard/nest/health';

@Controller('api/health')
export class HealthController {
  constructor(private readonly keycard: KeycardHealthIndicator) {}

  /**
   * SPEC: 200 `{status, store}` while the session store answers, 503 when it
   * does not within keycard's storeTimeout: for load balancers.
   */
  @Public()
  @Get()
  async check() {
    const result = await this.keycard.isStoreHealthy('store');
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
