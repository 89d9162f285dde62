import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { drizzle as drizzlePg } from 'drizzle-orm/node-postgres';
import pg from 'pg';
import * as schema from './schema.js';

/** The query layer, the same type on both drivers. */
export type AppDatabase = PgDatabase<PgQueryResultHKT, typeof schema>;

/**
 * One database for users (and, without Redis, sessions): PostgreSQL when a
 * URL is given, else PGlite in a folder, so a fresh clone needs no server.
 */
export type Database =
  | { readonly kind: 'pglite'; readonly db: AppDatabase; readonly client: PGlite; close(): Promise<void> }
  | { readonly kind: 'postgres'; readonly db: AppDatabase; readonly client: pg.Pool; close(): Promise<void> };

export interface DatabaseSettings {
  readonly databaseUrl: string | undefined;
  readonly dataDir: string;
}

/** Where the embedded database lives under DATA_DIR. */
export function pgliteDirectory(dataDir: string): string {
  return join(dataDir, 'pglite');
}

export async function openDatabase(settings: DatabaseSettings): Promise<Database> {
  if (settings.databaseUrl) {
    const pool = new pg.Pool({ connectionString: settings.databaseUrl, max: 10 });
    // An idle client losing its connection must not crash the process; the next query reports it.
    pool.on('error', () => undefined);
    // Fail at start-up, with the server's message, rather than on the first request.
    await pool.query('SELECT 1');
    return { kind: 'postgres', db: drizzlePg({ client: pool, schema }), client: pool, close: () => pool.end() };
  }
  const dir = pgliteDirectory(settings.dataDir);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const client = await PGlite.create({ dataDir: dir });
  return { kind: 'pglite', db: drizzlePglite({ client, schema }), client, close: () => client.close() };
}
