export { describeSessionStore, sampleRecord, samplePrincipal } from './conformance.js';
export type { ConformanceOptions, StoreCapability } from './conformance.js';
export { describeRateLimitStore } from './rate-limit-conformance.js';
export type { RateLimitConformanceOptions } from './rate-limit-conformance.js';
