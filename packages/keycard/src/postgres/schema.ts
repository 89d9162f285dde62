import { InvalidOptionsError } from '../core/errors.js';

/** Bumped with each change to the table's shape; recorded as the table's comment. */
export const SCHEMA_VERSION = 1;

/**
 * Names are restricted to lowercase SQL identifiers so that they mean the same
 * quoted and unquoted. Tables stop at 40 characters so that the index names
 * derived from them stay under PostgreSQL's 63-byte limit (longer names are
 * truncated silently, and two tables could then collide on an index name).
 */
const IDENTIFIER = /^[a-z_][a-z0-9_]*$/;
const MAX_TABLE = 40;
const MAX_IDENTIFIER = 63;

export interface TableNames {
  /** `"schema"."table"` or `"table"`, ready to splice into SQL. */
  readonly qualified: string;
  readonly schema: string | undefined;
  readonly table: string;
  readonly channel: string;
  readonly userIndex: string;
  readonly expiryIndex: string;
}

function fail(message: string): never {
  throw new InvalidOptionsError(`keycard/postgres: ${message}`);
}

/** A lowercase SQL identifier (the same quoted and unquoted) of at most `max` characters, or InvalidOptionsError naming `option`. */
export function identifier(option: string, value: unknown, max: number): string {
  if (typeof value !== 'string' || !IDENTIFIER.test(value) || value.length > max) {
    fail(
      `${option} must be a lowercase SQL identifier (letters, digits, _; not starting with a digit) ` +
        `of at most ${max} characters, got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

export function tableNames(options: { table?: string; schema?: string; channel?: string }): TableNames {
  const table = identifier('table', options.table ?? 'keycard_sessions', MAX_TABLE);
  const schema = options.schema === undefined ? undefined : identifier('schema', options.schema, MAX_IDENTIFIER);
  const derived = schema === undefined ? `${table}_revoked` : `${schema}_${table}_revoked`;
  if (options.channel === undefined && derived.length > MAX_IDENTIFIER) {
    fail(`the NOTIFY channel derived from schema and table (${derived}) is too long; set the channel option`);
  }
  const channel = identifier('channel', options.channel ?? derived, MAX_IDENTIFIER);
  return {
    qualified: schema === undefined ? `"${table}"` : `"${schema}"."${table}"`,
    schema,
    table,
    channel,
    userIndex: `${table}_user_idx`,
    expiryIndex: `${table}_expires_idx`,
  };
}

/**
 * The migration, as one DO block: one statement (PGlite's extended protocol
 * takes no multi-statement strings) and one transaction, serialised across
 * processes by an advisory lock, because two concurrent `CREATE TABLE IF NOT
 * EXISTS` can still fail on the catalog's unique index.
 *
 * Times are `bigint` milliseconds. `expires_at` is generated, so the sweep and
 * the liveness checks use one indexed column that can never disagree with the
 * two expiries. The per-user index carries `created_at` so that listing a
 * user's sessions oldest-first is a range scan of that user's entries only.
 */
export function buildMigration(names: TableNames): string {
  const t = names.qualified;
  const lockKey = `keycard:${names.schema ?? ''}.${names.table}`;
  return `DO $keycard$
BEGIN
  PERFORM pg_advisory_xact_lock(hashtext('${lockKey}'));
  ${
    names.schema === undefined
      ? ''
      : createSchemaStatement(names.schema)
  }
  CREATE TABLE IF NOT EXISTS ${t} (
    id text PRIMARY KEY,
    handle text NOT NULL,
    user_id text,
    principal jsonb,
    data jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at bigint NOT NULL,
    last_seen_at bigint NOT NULL,
    authenticated_at bigint,
    idle_timeout bigint NOT NULL,
    idle_expires_at bigint NOT NULL,
    absolute_expires_at bigint NOT NULL,
    expires_at bigint GENERATED ALWAYS AS (LEAST(idle_expires_at, absolute_expires_at)) STORED,
    remember boolean NOT NULL DEFAULT false,
    rotation_due boolean NOT NULL DEFAULT false,
    user_agent text,
    ip text
  );
  CREATE INDEX IF NOT EXISTS "${names.userIndex}" ON ${t} (user_id, created_at) WHERE user_id IS NOT NULL;
  CREATE INDEX IF NOT EXISTS "${names.expiryIndex}" ON ${t} (expires_at);
  COMMENT ON TABLE ${t} IS 'keycard sessions, schema version ${SCHEMA_VERSION}';
END
$keycard$`;
}

/** The migration SQL for a table (one statement), for teams that apply migrations with their own tool. */
export function migrationSql(options: { table?: string; schema?: string } = {}): string {
  return buildMigration(tableNames(options));
}

/**
 * `CREATE SCHEMA IF NOT EXISTS` for a migration's DO block, run under its
 * advisory lock. The lock does not refresh the catalog cache, so a schema
 * created by the process we waited for may still look missing here: its
 * duplicate error means done.
 */
export function createSchemaStatement(schema: string): string {
  return `BEGIN CREATE SCHEMA IF NOT EXISTS "${schema}"; EXCEPTION WHEN duplicate_schema OR unique_violation THEN NULL; END;`;
}
