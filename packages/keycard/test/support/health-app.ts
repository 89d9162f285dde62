import { Controller, Get, ServiceUnavailableException, type ModuleMetadata } from '@nestjs/common';
import { SessionManager, type StoreHealth } from '../../src/index.js';
import { Public, type SessionModuleOptions } from '../../src/nest/index.js';
import { Gates } from './gate.js';
import { sessionApp } from './session-app.js';

/**
 * A readiness probe as an application writes one on `SessionManager.health()`:
 * 200 `{store: 'up'}`, or 503 `{store: 'down'}` within `storeTimeout`.
 * Public, and it reads no session.
 */
@Controller()
export class HealthController {
  constructor(private readonly manager: SessionManager) {}

  @Public()
  @Get('health')
  async health(): Promise<StoreHealth> {
    const health = await this.manager.health();
    if (health.store === 'down') throw new ServiceUnavailableException(health);
    return health;
  }
}

/** `sessionApp(options)` (every session test route) plus `GET /health`. */
export function healthApp(options: Partial<SessionModuleOptions> = {}, gates = new Gates()): ModuleMetadata {
  const base = sessionApp(options, gates);
  return { ...base, controllers: [...(base.controllers ?? []), HealthController] };
}
