/**
 * keycard's `SqlClient` on the `postgres` driver (porsager/postgres), for the
 * driver comparison: every statement goes through `unsafe` with
 * `prepare: true`, so each distinct query text is parsed and planned once per
 * connection and then only bound and executed, which is what that driver
 * does for its tagged templates.
 */
import type { SqlClient, SqlRow, SqlValue } from 'keycard/postgres';
import type postgres from 'postgres';

export function postgresJsClient(sql: postgres.Sql): SqlClient {
  return {
    async query(text: string, params: SqlValue[]) {
      const rows = await sql.unsafe(text, params as postgres.ParameterOrJSON<never>[], { prepare: true });
      return { rows: rows as unknown as readonly SqlRow[] };
    },
  };
}
