import type { JsonValue, Principal, SessionData, SessionRecord } from '../core/record.js';

/**
 * How a session lives in Redis: one hash per session, metadata under `#`
 * fields and one `.`-prefixed field per data key holding that value's JSON,
 * so that an update writes only the keys it changes. Metadata names are short
 * because they are repeated in every session (memory per session is the cost
 * that scales).
 *
 * | field | meaning                  | field  | meaning                         |
 * | ----- | ------------------------ | ------ | ------------------------------- |
 * | `#h`  | handle                   | `#t`   | idleTimeout (ms)                |
 * | `#p`  | principal (JSON)         | `#i`   | idleExpiresAt (ms epoch)        |
 * | `#u`  | principal id, for Lua    | `#x`   | absoluteExpiresAt (ms epoch)    |
 * | `#c`  | createdAt                | `#r`   | remember (`1`/`0`)              |
 * | `#s`  | lastSeenAt               | `#d`   | rotationDue (`1`/`0`)           |
 * | `#a`  | authenticatedAt          | `#ua`, `#ip` | user agent, client IP     |
 *
 * Optional fields (`#p`, `#u`, `#a`, `#ua`, `#ip`) are absent when null. The
 * Lua scripts in scripts.ts use these names too.
 */
export const FIELD = {
  handle: '#h',
  principal: '#p',
  userId: '#u',
  createdAt: '#c',
  lastSeenAt: '#s',
  authenticatedAt: '#a',
  idleTimeout: '#t',
  idleExpiresAt: '#i',
  absoluteExpiresAt: '#x',
  remember: '#r',
  rotationDue: '#d',
  userAgent: '#ua',
  ip: '#ip',
} as const;

const DATA = '.';

export function dataField(key: string): string {
  return DATA + key;
}

/** The hash's fields and values, flattened as HSET takes them. */
export function encodeRecord(record: SessionRecord): string[] {
  const out: string[] = [
    FIELD.handle, record.handle,
    FIELD.createdAt, String(record.createdAt),
    FIELD.lastSeenAt, String(record.lastSeenAt),
    FIELD.idleTimeout, String(record.idleTimeout),
    FIELD.idleExpiresAt, String(record.idleExpiresAt),
    FIELD.absoluteExpiresAt, String(record.absoluteExpiresAt),
    FIELD.remember, record.remember ? '1' : '0',
    FIELD.rotationDue, record.rotationDue ? '1' : '0',
  ];
  if (record.principal) out.push(FIELD.principal, JSON.stringify(record.principal), FIELD.userId, record.principal.id);
  if (record.authenticatedAt !== null) out.push(FIELD.authenticatedAt, String(record.authenticatedAt));
  if (record.userAgent !== null) out.push(FIELD.userAgent, record.userAgent);
  if (record.ip !== null) out.push(FIELD.ip, record.ip);
  for (const [key, value] of Object.entries(record.data)) out.push(dataField(key), JSON.stringify(value));
  return out;
}

/**
 * The record a hash holds, from HGETALL's flat reply. Null for an empty or
 * incomplete hash: a hash without its metadata is not a session anyone was given.
 */
export function decodeRecord(id: string, reply: readonly string[]): SessionRecord | null {
  const fields = new Map<string, string>();
  const data: [string, JsonValue][] = [];
  for (const [field, value] of pairsOf(reply)) {
    if (field.startsWith(DATA)) data.push([field.slice(DATA.length), JSON.parse(value) as JsonValue]);
    else fields.set(field, value);
  }
  const handle = fields.get(FIELD.handle);
  const createdAt = numberOf(fields.get(FIELD.createdAt));
  const lastSeenAt = numberOf(fields.get(FIELD.lastSeenAt));
  const idleTimeout = numberOf(fields.get(FIELD.idleTimeout));
  const idleExpiresAt = numberOf(fields.get(FIELD.idleExpiresAt));
  const absoluteExpiresAt = numberOf(fields.get(FIELD.absoluteExpiresAt));
  if (
    handle === undefined ||
    createdAt === null ||
    lastSeenAt === null ||
    idleTimeout === null ||
    idleExpiresAt === null ||
    absoluteExpiresAt === null
  ) {
    return null;
  }
  const principal = fields.get(FIELD.principal);
  // fromEntries defines own properties, so a data key named "__proto__" stays data.
  const sessionData: SessionData = Object.fromEntries(data);
  return {
    id,
    handle,
    principal: principal === undefined ? null : (JSON.parse(principal) as Principal),
    data: sessionData,
    createdAt,
    lastSeenAt,
    authenticatedAt: numberOf(fields.get(FIELD.authenticatedAt)),
    idleTimeout,
    idleExpiresAt,
    absoluteExpiresAt,
    remember: fields.get(FIELD.remember) === '1',
    rotationDue: fields.get(FIELD.rotationDue) === '1',
    userAgent: fields.get(FIELD.userAgent) ?? null,
    ip: fields.get(FIELD.ip) ?? null,
  };
}

function* pairsOf(flat: readonly string[]): Generator<readonly [string, string]> {
  for (let i = 0; i + 1 < flat.length; i += 2) yield [flat[i] as string, flat[i + 1] as string];
}

function numberOf(value: string | undefined): number | null {
  if (value === undefined) return null;
  const n = Number(value);
  return Number.isFinite(n) ? n : null;
}
