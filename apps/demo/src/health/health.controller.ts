import { Controller, Get, ServiceUnavailableException } from '@nestjs/common';
import { SessionManager } from 'keycard';
import { Public } from 'keycard/nest';

const PING_TIMEOUT_MS = 1000;

@Controller('api/health')
export class HealthController {
  constructor(private readonly manager: SessionManager) {}

  /** 200 while the session store answers, 503 when it does not (within a second): for load balancers. */
  @Public()
  @Get()
  async health() {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('timeout')), PING_TIMEOUT_MS);
    });
    try {
      await Promise.race([this.manager.store.ping(), timeout]);
    } catch {
      throw new ServiceUnavailableException({ statusCode: 503, error: 'Service Unavailable', message: 'the session store is down', status: 'unavailable', store: 'down' });
    } finally {
      clearTimeout(timer);
    }
    return { status: 'ok', store: 'up' };
  }
}
