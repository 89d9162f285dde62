export { PostgresStore } from './postgres-store.js';
export type { PostgresStoreOptions } from './postgres-store.js';
export { pgPoolClient, postgresJsClient, pgliteClient } from './sql-client.js';
export type {
  SqlClient,
  SqlRow,
  SqlValue,
  PgPoolLike,
  PgListenClientLike,
  PgPoolClientOptions,
  PostgresJsSqlLike,
  PostgresJsClientOptions,
  PGliteLike,
} from './sql-client.js';
export { SCHEMA_VERSION, migrationSql } from './schema.js';
export type { TableNames } from './schema.js';
export { PostgresRateLimitStore } from './rate-limit-store.js';
export type { PostgresRateLimitStoreOptions } from './rate-limit-store.js';
