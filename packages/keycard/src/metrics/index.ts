export { KeycardMetrics } from './prometheus.js';
export type { KeycardMetricsOptions } from './prometheus.js';
