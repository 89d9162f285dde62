import { Controller, Get, Header } from '@nestjs/common';
import { Registry } from 'prom-client';
import { KeycardMetrics } from 'keycard/metrics';
import { Public } from 'keycard/nest';

/**
 * GET /metrics in Prometheus' text format, registered only with METRICS=1
 * (see AppModule). Label values come from fixed sets (keycard/metrics): no
 * id, token, e-mail or address can appear in them.
 */
@Controller('metrics')
export class MetricsController {
  constructor(private readonly metrics: KeycardMetrics) {}

  @Public()
  @Get()
  @Header('Content-Type', Registry.PROMETHEUS_CONTENT_TYPE)
  @Header('Cache-Control', 'no-store')
  scrape(): Promise<string> {
    return this.metrics.metrics();
  }
}
