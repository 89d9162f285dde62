import { createClient } from 'redis';

const client = createClient();

// #region readme
import { RedisStore as ConnectRedisStore } from 'connect-redis';
import { ConnectStoreAdapter } from '../../src/index.js';

const store = new ConnectStoreAdapter(new ConnectRedisStore({ client, prefix: 'sess:' }));
// #endregion readme

export { store };
