export { RedisStore } from './redis-store.js';
export type { RedisStoreOptions, RedisClient } from './redis-store.js';
export { RedisRateLimitStore } from './rate-limit-store.js';
export type { RedisRateLimitStoreOptions } from './rate-limit-store.js';
export type { DurabilityOptions } from './durability.js';
export { RedisRevocationStore } from './revocation-store.js';
export type { RedisRevocationStoreOptions, RedisRevocationClient } from './revocation-store.js';
