export { describeSessionStore, sampleRecord, samplePrincipal } from './conformance.js';
export type { ConformanceOptions } from './conformance.js';
