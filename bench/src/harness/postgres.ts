import pg from 'pg';

const IDENTIFIER = /^[a-z_][a-z0-9_]*$/;

/** `SHOW server_version` of the PostgreSQL the 9b variant uses, for the report. */
export async function postgresVersion(url: string): Promise<string> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3_000 });
  try {
    await client.connect();
    const result = await client.query<{ server_version: string }>('SHOW server_version');
    return result.rows[0]?.server_version ?? 'unknown';
  } catch (error) {
    return `unreachable (${(error as Error).message})`;
  } finally {
    await client.end().catch(() => {});
  }
}

/** Drops a table the bench created (its name is the bench's own, never user input). */
export async function dropTable(url: string, table: string): Promise<void> {
  if (!IDENTIFIER.test(table)) throw new Error(`refusing to drop ${JSON.stringify(table)}`);
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3_000 });
  try {
    await client.connect();
    await client.query(`DROP TABLE IF EXISTS "${table}"`);
  } finally {
    await client.end().catch(() => {});
  }
}
