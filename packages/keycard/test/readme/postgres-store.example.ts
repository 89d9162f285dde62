// #region readme
import pg from 'pg';
import { PostgresStore, pgPoolClient } from '../../src/postgres/index.js';

const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, connectionTimeoutMillis: 2000 });
const store = new PostgresStore({ client: pgPoolClient(pool), migrate: true });
// #endregion readme

export { store };
