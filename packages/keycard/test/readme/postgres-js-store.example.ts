// #region readme
import postgres from 'postgres';
import { PostgresStore, postgresJsClient } from '../../src/postgres/index.js';

const sql = postgres(process.env.DATABASE_URL ?? '', {
  connect_timeout: 2,
  // Seconds between reconnection attempts: the default grows to 10–20 s, and LISTEN comes back that late.
  backoff: (attempt) => Math.min(0.05 * 2 ** attempt, 0.5),
});
const store = new PostgresStore({ client: postgresJsClient(sql), migrate: true });
// #endregion readme

export { store };
