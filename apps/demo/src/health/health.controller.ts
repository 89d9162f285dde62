import { Controller, Get, Req, ServiceUnavailableException } from '@nestjs/common';
import { findSession, Public, type RequestLike } from 'keycard/nest';
import { HealthProbes } from './health-probes.js';

const DOWN = { store: { status: 'down' } } as const;

@Controller('api/health')
export class HealthController {
  constructor(private readonly probes: HealthProbes) {}

  /**
   * SPEC: 200 `{status, store}` while the session store answers, 503 when it
   * does not within keycard's storeTimeout: for load balancers. Concurrent
   * requests share one ping (HealthProbes).
   */
  @Public()
  @Get()
  async check(@Req() request: RequestLike) {
    // keycard loaded this request's session before the handler ran: if that already found the store
    // down (a frozen Redis: the load waited the store timeout), answer now rather than wait a second
    // timeout for a ping, so health answers within the store timeout either way.
    const loaded = findSession(request);
    const result = loaded !== undefined && !loaded.available ? DOWN : await this.probes.store();
    if (result.store.status === 'down') {
      throw new ServiceUnavailableException({ statusCode: 503, error: 'Service Unavailable', message: 'the session store is down', status: 'unavailable', store: 'down' });
    }
    return { status: 'ok', store: 'up' };
  }

  /**
   * For operators: the terminus indicators' report of the store and of the
   * revocation channel (a lost subscription shows as `degraded`), with
   * latencies; 503 when the store is down. Its probes are reused for two
   * seconds (HealthProbes), so a flood of requests costs the store nothing.
   */
  @Public()
  @Get('details')
  async details() {
    const [store, revocations] = await this.probes.details();
    const details = { ...store, ...revocations };
    if (store.store.status === 'down') throw new ServiceUnavailableException({ status: 'error', details });
    return { status: revocations.revocations.status === 'up' ? 'ok' : 'degraded', details };
  }
}
