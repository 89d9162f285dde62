import { eq, sql } from 'drizzle-orm';
import type { AppDatabase } from './database.js';
import { demoMigrations } from './schema.js';

export interface Migration {
  /** Sortable and never renamed once shipped: it is the key in demo_migrations. */
  readonly id: string;
  /** One statement per entry (the extended query protocol takes one at a time). */
  readonly statements: readonly string[];
}

/** Append only. An applied migration is never edited; a change is a new entry. */
export const MIGRATIONS: readonly Migration[] = [
  {
    id: '0001_users',
    statements: [
      `CREATE TABLE users (
        id uuid PRIMARY KEY,
        email text NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
        name text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
        password_hash text NOT NULL,
        roles text[] NOT NULL DEFAULT '{}',
        auth_version integer NOT NULL DEFAULT 1,
        created_at timestamptz NOT NULL DEFAULT now()
      )`,
      'CREATE UNIQUE INDEX users_email_lower ON users (lower(email))',
    ],
  },
];

/** An arbitrary constant: the key of the advisory lock that serialises migrators. */
const MIGRATION_LOCK = 727_274_001;

/**
 * Applies pending migrations in order, each in its own transaction with its
 * bookkeeping row. An advisory lock makes instances that start together take
 * turns instead of racing to create the same table. Returns the ids applied.
 */
export async function migrate(db: AppDatabase, migrations: readonly Migration[] = MIGRATIONS): Promise<string[]> {
  await db.execute(
    sql.raw(`CREATE TABLE IF NOT EXISTS demo_migrations (
      id text PRIMARY KEY,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`),
  );
  const applied: string[] = [];
  for (const migration of migrations) {
    const done = await db.transaction(async (tx) => {
      await tx.execute(sql`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK})`);
      const seen = await tx.select().from(demoMigrations).where(eq(demoMigrations.id, migration.id));
      if (seen.length > 0) return false;
      for (const statement of migration.statements) await tx.execute(sql.raw(statement));
      await tx.insert(demoMigrations).values({ id: migration.id, appliedAt: new Date() });
      return true;
    });
    if (done) applied.push(migration.id);
  }
  return applied;
}
