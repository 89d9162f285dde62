import { Redis } from 'ioredis';
import { RedisStore } from '../../src/redis/index.js';

const redis = new Redis({ lazyConnect: true });

export const store =
// #region readme
new RedisStore(redis, {
  durability: {
    replicas: 'auto', // default: 1 when the topology has a replica, 0 on a lone master (no WAIT, no cost)
    timeout: 500,     // default: half the SessionManager's storeTimeout
  },
});
// #endregion readme
