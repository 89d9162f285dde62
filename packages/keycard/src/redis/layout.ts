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
 * incomplete hash (a hash without its metadata is not a session anyone was
 * given) and for a reply that is not a flat list of strings. A field given
 * twice counts once, with its last value. One pass over the reply, checking
 * types as it goes: this runs on every authenticated read.
 */
export function decodeRecord(id: string, reply: readonly unknown[]): SessionRecord | null {
  const meta = new Map<string, string>();
  let data: [string, JsonValue][] | null = null;
  for (let i = 0; i + 1 < reply.length; i += 2) {
    const field = reply[i];
    const value = reply[i + 1];
    if (typeof field !== 'string' || typeof value !== 'string') return null;
    if (field.startsWith(DATA)) (data ??= []).push([field.slice(DATA.length), JSON.parse(value) as JsonValue]);
    else meta.set(field, value);
  }
  const handle = meta.get(FIELD.handle);
  const createdAt = numberOf(meta.get(FIELD.createdAt));
  const lastSeenAt = numberOf(meta.get(FIELD.lastSeenAt));
  const idleTimeout = numberOf(meta.get(FIELD.idleTimeout));
  const idleExpiresAt = numberOf(meta.get(FIELD.idleExpiresAt));
  const absoluteExpiresAt = numberOf(meta.get(FIELD.absoluteExpiresAt));
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
  const principal = meta.get(FIELD.principal);
  return {
    id,
    handle,
    principal: principal === undefined ? null : (JSON.parse(principal) as Principal),
    // fromEntries defines own properties, so a data key named "__proto__" stays data.
    data: data === null ? {} : (Object.fromEntries(data) as SessionData),
    createdAt,
    lastSeenAt,
    authenticatedAt: numberOf(meta.get(FIELD.authenticatedAt)),
    idleTimeout,
    idleExpiresAt,
    absoluteExpiresAt,
    remember: meta.get(FIELD.remember) === '1',
    rotationDue: meta.get(FIELD.rotationDue) === '1',
    userAgent: meta.get(FIELD.userAgent) ?? null,
    ip: meta.get(FIELD.ip) ?? null,
  };
}

function numberOf(value: string | undefined): number | null {
  if (value === undefined) return null;
  const n = Number(value);
  return Number.isFinite(n) ? n : null;
}
