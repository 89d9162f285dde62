import type { INestApplication } from '@nestjs/common';
import { SessionManager } from '../../src/index.js';

declare const app: INestApplication;

// #region readme
import { KeycardMetrics } from '../../src/metrics/index.js';

const metrics = new KeycardMetrics();     // or { registry: register } to join prom-client's global registry
metrics.observe(app.get(SessionManager));
// GET /metrics → res.type(metrics.contentType).send(await metrics.metrics())
// #endregion readme
