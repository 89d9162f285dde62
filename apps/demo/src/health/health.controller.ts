import { Controller, Get, ServiceUnavailableException } from '@nestjs/common';
import { SessionManager } from 'keycard';
import { Public } from 'keycard/nest';

@Controller('api/health')
export class HealthController {
  constructor(private readonly manager: SessionManager) {}

  /** 200 while the session store answers, 503 when it does not within keycard's storeTimeout: for load balancers. */
  @Public()
  @Get()
  async health() {
    const { store } = await this.manager.health();
    if (store === 'down') {
      throw new ServiceUnavailableException({ statusCode: 503, error: 'Service Unavailable', message: 'the session store is down', status: 'unavailable', store: 'down' });
    }
    return { status: 'ok', store };
  }
}
