// #region readme
import postgres from 'postgres';
import { PostgresStore, postgresJsClient } from '../../src/postgres/index.js';

const sql = postgres(process.env.DATABASE_URL ?? '', {
  connect_timeout: 2,
  // The default backoff (3 ** attempt / 100 s) grows to 10–20 s: LISTEN would come back that late.
  backoff: (attempt) => Math.min(3 ** attempt / 100, 0.5),
  // keycard binds no arrays; the type fetch on each new connection can crash the process when cut (see below).
  fetch_types: false,
});
const store = new PostgresStore({ client: postgresJsClient(sql), migrate: true });
// #endregion readme

export { store };
