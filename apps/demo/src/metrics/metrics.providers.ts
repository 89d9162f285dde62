import type { Provider } from '@nestjs/common';
import { SessionManager } from 'keycard';
import { KeycardMetrics } from 'keycard/metrics';

/** KeycardMetrics counting what the app's SessionManager (and the sign-in service, through its events) reports. */
export const metricsProviders: Provider[] = [
  {
    provide: KeycardMetrics,
    useFactory: (manager: SessionManager) => {
      const metrics = new KeycardMetrics();
      metrics.observe(manager);
      return metrics;
    },
    inject: [SessionManager],
  },
];
