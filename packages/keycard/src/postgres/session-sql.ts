import type { Principal, SessionData, SessionRecord } from '../core/record.js';
import type { TableNames } from './schema.js';
import type { SqlRow, SqlValue } from './sql-client.js';

/*
 * The PostgreSQL session store's SQL: every statement it sends (one per
 * contract method, each atomic on its own) and the codec between a row and a
 * SessionRecord. postgres-store.ts decides when to send which.
 */

const COLUMNS =
  'id, handle, principal, data, created_at, last_seen_at, authenticated_at, idle_timeout, ' +
  'idle_expires_at, absolute_expires_at, remember, rotation_due, user_agent, ip';

/**
 * Insert columns and their casts: INSERT … SELECT (used by rotate) does not infer parameter types.
 * JSON is bound as text and cast in SQL (`$n::text::jsonb`): a driver that serializes by the
 * declared parameter type (`postgres` JSON.stringifies whatever is bound to a jsonb parameter)
 * would otherwise store the JSON text as a JSON string.
 */
const INSERT_COLUMNS =
  'id, handle, user_id, principal, data, created_at, last_seen_at, authenticated_at, idle_timeout, ' +
  'idle_expires_at, absolute_expires_at, remember, rotation_due, user_agent, ip';
const INSERT_VALUES =
  '$1::text, $2::text, $3::text, $4::text::jsonb, $5::text::jsonb, $6::bigint, $7::bigint, $8::bigint, $9::bigint, ' +
  '$10::bigint, $11::bigint, $12::boolean, $13::boolean, $14::text, $15::text';

/** The store's statements for one table. */
export function statements(names: TableNames) {
  const t = names.qualified;
  return {
    find: `SELECT ${COLUMNS} FROM ${t} WHERE id = $1`,
    // The UPDATE runs only when the row is live and due; the second branch
    // returns the row as it was otherwise. Both see the statement's snapshot,
    // so the result is the touched row or the untouched one, never both.
    // `touchDue`/`touched` of core/record.ts in SQL (expires_at is LEAST(idle, absolute)); the
    // conformance suite's "find — applies the touch rule of record.ts" cases hold it to that definition.
    findAndTouch: `WITH touched AS (
        UPDATE ${t} SET last_seen_at = $2::bigint, idle_expires_at = LEAST($2::bigint + idle_timeout, absolute_expires_at)
        WHERE id = $1 AND expires_at > $2::bigint AND $2::bigint - last_seen_at >= $3::bigint
        RETURNING ${COLUMNS}
      )
      SELECT ${COLUMNS} FROM touched
      UNION ALL
      SELECT ${COLUMNS} FROM ${t} WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM touched)`,
    create: `INSERT INTO ${t} (${INSERT_COLUMNS}) VALUES (${INSERT_VALUES})`,
    // Every statement that changes or deletes existing rows pg_notifies their ids on the
    // invalidation channel (the session cache's feed, postgres/invalidation.ts), inside the
    // statement: the notification commits with the change, or not at all. The touch in
    // findAndTouch does not: it only moves deadlines later, so a cached copy without it is
    // never more live than the row (it goes to the store when its own touch is due or its
    // own deadline passed). Neither does the sweep: a copy of an expired row is not live.
    update: `WITH changed AS (
        UPDATE ${t} SET data = (data || $2::text::jsonb) - ARRAY(SELECT jsonb_array_elements_text($3::text::jsonb)), rotation_due = COALESCE($4::boolean, rotation_due)
        WHERE id = $1 RETURNING id
      )
      SELECT 1 AS ok, pg_notify($5, json_build_array(id)::text)::text AS notified FROM changed`,
    rotate: `WITH gone AS (DELETE FROM ${t} WHERE id = $16 RETURNING id), added AS (
        INSERT INTO ${t} (${INSERT_COLUMNS}) SELECT ${INSERT_VALUES} WHERE EXISTS (SELECT 1 FROM gone)
        RETURNING 1
      )
      SELECT 1 AS ok, pg_notify($17, json_build_array(id)::text)::text AS notified FROM gone WHERE EXISTS (SELECT 1 FROM added)`,
    destroy: `WITH gone AS (DELETE FROM ${t} WHERE id = $1 RETURNING id, handle)
      SELECT handle, pg_notify($2, json_build_array(handle)::text)::text AS notified,
        pg_notify($3, json_build_array(id)::text)::text AS invalidated FROM gone`,
    listByUser: `SELECT ${COLUMNS} FROM ${t} WHERE user_id = $1 AND expires_at > $2::bigint ORDER BY created_at, id`,
    // One NOTIFY per chunk of handles (revocations) and per chunk of ids (invalidations), from inside the deleting statement.
    revokeAll: `WITH gone AS (
        DELETE FROM ${t} WHERE user_id = $1 AND id IS DISTINCT FROM $2::text RETURNING id, handle
      ), chunks AS (
        SELECT json_agg(handle)::text AS payload
        FROM (SELECT handle, (row_number() OVER () - 1) / $4::int AS chunk FROM gone) numbered
        GROUP BY chunk
      ), id_chunks AS (
        SELECT json_agg(id)::text AS payload
        FROM (SELECT id, (row_number() OVER () - 1) / $6::int AS chunk FROM gone) numbered
        GROUP BY chunk
      )
      SELECT id, handle, NULL::text AS notified FROM gone
      UNION ALL
      SELECT NULL, NULL, pg_notify($3, payload)::text FROM chunks
      UNION ALL
      SELECT NULL, NULL, pg_notify($5, payload)::text FROM id_chunks`,
    refreshPrincipal: `WITH changed AS (
        UPDATE ${t} SET principal = $2::text::jsonb, rotation_due = true
        WHERE user_id = $1 AND expires_at > $3::bigint RETURNING id
      ), id_chunks AS (
        SELECT json_agg(id)::text AS payload
        FROM (SELECT id, (row_number() OVER () - 1) / $5::int AS chunk FROM changed) numbered
        GROUP BY chunk
      )
      SELECT id, NULL::text AS notified FROM changed
      UNION ALL
      SELECT NULL, pg_notify($4, payload)::text FROM id_chunks`,
    sweep: `WITH gone AS (
        DELETE FROM ${t} WHERE id IN (
          SELECT id FROM ${t} WHERE expires_at <= $1::bigint ORDER BY expires_at LIMIT $2::int FOR UPDATE SKIP LOCKED
        ) RETURNING 1
      )
      SELECT count(*)::int AS removed FROM gone`,
  };
}

export function insertParams(record: SessionRecord): SqlValue[] {
  return [
    record.id,
    record.handle,
    record.principal?.id ?? null,
    // SQL NULL, not the JSON null: `principal IS NULL` must mean anonymous.
    record.principal === null ? null : JSON.stringify(record.principal),
    JSON.stringify(record.data),
    millisParam(record.createdAt),
    millisParam(record.lastSeenAt),
    record.authenticatedAt === null ? null : millisParam(record.authenticatedAt),
    millisParam(record.idleTimeout),
    millisParam(record.idleExpiresAt),
    millisParam(record.absoluteExpiresAt),
    record.remember,
    record.rotationDue,
    record.userAgent,
    record.ip,
  ];
}

/** Times go to `bigint` columns, which refuse fractions: a non-integer here is a caller's bug, said plainly. */
export function millisParam(value: number): number {
  if (!Number.isSafeInteger(value)) throw new TypeError(`keycard/postgres: expected integer milliseconds, got ${value}`);
  return value;
}

/**
 * `pg` returns int8 as a string (it may not fit a double) and PGlite as a
 * number or a bigint. Milliseconds since the epoch fit 2^53 for another
 * 285 000 years, so anything outside is corruption, not a value to round.
 */
function millis(value: unknown): number {
  const n = typeof value === 'number' ? value : typeof value === 'bigint' || typeof value === 'string' ? Number(value) : NaN;
  if (!Number.isSafeInteger(n)) throw new TypeError(`keycard/postgres: stored time ${String(value)} is not a safe integer`);
  return n;
}

function json<T>(value: unknown): T {
  // Drivers configured to leave jsonb unparsed hand back text.
  return (typeof value === 'string' ? JSON.parse(value) : value) as T;
}

export function toRecord(row: SqlRow): SessionRecord {
  return {
    id: row['id'] as string,
    handle: row['handle'] as string,
    principal: row['principal'] === null ? null : json<Principal>(row['principal']),
    data: json<SessionData>(row['data']),
    createdAt: millis(row['created_at']),
    lastSeenAt: millis(row['last_seen_at']),
    authenticatedAt: row['authenticated_at'] === null ? null : millis(row['authenticated_at']),
    idleTimeout: millis(row['idle_timeout']),
    idleExpiresAt: millis(row['idle_expires_at']),
    absoluteExpiresAt: millis(row['absolute_expires_at']),
    remember: row['remember'] === true,
    rotationDue: row['rotation_due'] === true,
    userAgent: (row['user_agent'] as string | null) ?? null,
    ip: (row['ip'] as string | null) ?? null,
  };
}
