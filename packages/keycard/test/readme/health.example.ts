// #region readme
import { Controller, Get, Module } from '@nestjs/common';
import { HealthCheck, HealthCheckService } from '@nestjs/terminus';
import { Public } from '../../src/nest/index.js';
import { KeycardHealthIndicator, KeycardHealthModule } from '../../src/nest/health/index.js';

@Controller('health')
class HealthController {
  constructor(private readonly health: HealthCheckService, private readonly keycard: KeycardHealthIndicator) {}
  @Public() @Get() @HealthCheck()
  check() {
    return this.health.check([() => this.keycard.isStoreHealthy(), () => this.keycard.isRevocationChannelHealthy()]);
  }
}

@Module({ imports: [KeycardHealthModule], controllers: [HealthController] })
export class HealthModule {}
// #endregion readme
