import { createHash } from 'node:crypto';
import { FIELD } from './layout.js';

/**
 * The Lua scripts behind the store. Each touches exactly one key, declared in
 * KEYS, so every script runs on one hash slot and the same code serves
 * standalone Redis, Sentinel and Cluster. Scripts never return Lua booleans:
 * over RESP3 (ioredis 6's default) `false` arrives as a boolean, over RESP2 as
 * nil; empty tables and integers read the same on both.
 */
export interface LuaScript {
  readonly source: string;
  /** SHA-1 of the source, for EVALSHA. */
  readonly sha: string;
}

export function lua(source: string): LuaScript {
  return { source, sha: createHash('sha1').update(source).digest('hex') };
}

/** The part of an ioredis client (Redis or Cluster) that runs scripts. */
interface ScriptRunner {
  evalsha(sha: string, keys: number, ...args: (string | number)[]): Promise<unknown>;
  eval(source: string, keys: number, ...args: (string | number)[]): Promise<unknown>;
}

/**
 * EVALSHA on one key, falling back to EVAL when the server does not have the
 * script cached (first use, restart, failover, SCRIPT FLUSH, a new node).
 */
export function evalLua(client: ScriptRunner, script: LuaScript, key: string, args: readonly (string | number)[]): Promise<unknown> {
  return client.evalsha(script.sha, 1, key, ...args).catch((error: unknown) => {
    if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
    return client.eval(script.source, 1, key, ...args);
  });
}

const q = (field: string): string => `'${field}'`;

/**
 * The session cache's invalidation (docs/session-cache.md): ARGV[1] is
 * 'PUBLISH' or 'SPUBLISH' ('' publishes nothing), ARGV[2] the channel of the
 * key's slot. Published from inside the script that changed the key, so every
 * subscriber has the message in its output buffer before the writer has its
 * reply. The payload is the key, never a token.
 */
const INVALIDATE = `
local function invalidate(key)
  if ARGV[1] ~= '' then redis.call(ARGV[1], ARGV[2], key) end
end
`;

/** HSET in chunks, so that a session with thousands of keys cannot overflow Lua's stack through unpack. */
const HSET_FROM = `
local function hsetFrom(key, first)
  local i = first
  while i <= #ARGV do
    local last = math.min(i + 199, #ARGV)
    redis.call('HSET', key, unpack(ARGV, i, last))
    i = last + 1
  end
end
`;

/**
 * KEYS[1] session hash; ARGV[1] now (ms); ARGV[2] touch interval (ms, negative: never).
 * Returns HGETALL's flat array (empty when absent), touched first when due:
 * the one round trip of an authenticated read. An expired record is returned
 * as it is, never touched back to life. The touch is `touchDue`/`touched` of
 * core/record.ts restated in Lua; the conformance suite's "find — applies the
 * touch rule of record.ts" cases hold it to that definition.
 */
export const FIND = lua(
  `
-- One JSON string instead of HGETALL's flat array: decoding one bulk string and
-- JSON.parse costs the client far less than one JS string per field (measured).
local function reply(t)
  if #t == 0 then return '' end
  return cjson.encode(t)
end
local key = KEYS[1]
local fields = redis.call('HGETALL', key)
if #fields == 0 then return '' end
local interval = tonumber(ARGV[2])
if interval < 0 then return reply(fields) end
local now = tonumber(ARGV[1])
local seen, idleTimeout, idleExp, absExp
for i = 1, #fields, 2 do
  local f = fields[i]
  if f == ${q(FIELD.lastSeenAt)} then seen = tonumber(fields[i + 1])
  elseif f == ${q(FIELD.idleTimeout)} then idleTimeout = tonumber(fields[i + 1])
  elseif f == ${q(FIELD.idleExpiresAt)} then idleExp = tonumber(fields[i + 1])
  elseif f == ${q(FIELD.absoluteExpiresAt)} then absExp = tonumber(fields[i + 1])
  end
end
if not (seen and idleTimeout and idleExp and absExp) then return reply(fields) end
if math.min(idleExp, absExp) <= now or now - seen < interval then return reply(fields) end
local nextIdle = math.min(now + idleTimeout, absExp)
redis.call('HSET', key, ${q(FIELD.lastSeenAt)}, ARGV[1], ${q(FIELD.idleExpiresAt)}, nextIdle)
redis.call('PEXPIREAT', key, math.ceil(nextIdle))
return reply(redis.call('HGETALL', key))
`,
);

/**
 * KEYS[1] session hash; ARGV[1] expiry (ms epoch); ARGV[2..] field/value pairs.
 * Returns 1, or 0 when the key is taken (nothing written).
 */
export const CREATE = lua(
  `${HSET_FROM}
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
hsetFrom(KEYS[1], 2)
redis.call('PEXPIREAT', KEYS[1], ARGV[1])
return 1
`,
);

/**
 * KEYS[1] session hash; ARGV[1..2] invalidation (see INVALIDATE); ARGV[3]
 * rotation flag ('', '0' or '1'); ARGV[4] n; ARGV[5..4+n] fields to remove;
 * the rest field/value pairs to set.
 * Returns 1, or 0 when the session is gone: a write never re-creates a
 * destroyed or rotated session. Expiry is left alone.
 */
export const UPDATE = lua(
  `${HSET_FROM}${INVALIDATE}
local key = KEYS[1]
if redis.call('EXISTS', key) == 0 then return 0 end
local n = tonumber(ARGV[4])
hsetFrom(key, 5 + n)
if n > 0 then redis.call('HDEL', key, unpack(ARGV, 5, 4 + n)) end
if ARGV[3] ~= '' then redis.call('HSET', key, ${q(FIELD.rotationDue)}, ARGV[3]) end
invalidate(key)
return 1
`,
);

/**
 * KEYS[1] session hash; ARGV[1..2] invalidation (see INVALIDATE); ARGV[3], when given, the user id it must belong to.
 * Deletes the session and returns {handle, user id} ({handle} for an
 * anonymous one), or {} when it was absent (or someone else's). Destroy,
 * rotate and revokeAll all go through it, so "did it exist" and "whose
 * was it" are answered atomically with the delete.
 */
export const TAKE = lua(
  `${INVALIDATE}
local meta = redis.call('HMGET', KEYS[1], ${q(FIELD.handle)}, ${q(FIELD.userId)})
if not meta[1] then return {} end
if #ARGV > 2 and meta[2] ~= ARGV[3] then return {} end
redis.call('DEL', KEYS[1])
invalidate(KEYS[1])
if meta[2] then return {meta[1], meta[2]} end
return {meta[1]}
`,
);

/**
 * KEYS[1] session hash; ARGV[1..2] invalidation (see INVALIDATE); ARGV[3] user id; ARGV[4] now (ms); ARGV[5] principal JSON.
 * Returns 1 when changed, 0 when expired or not that user's, -1 when absent
 * (so the caller can prune the index entry).
 */
export const REFRESH = lua(
  `${INVALIDATE}
local meta = redis.call('HMGET', KEYS[1], ${q(FIELD.userId)}, ${q(FIELD.idleExpiresAt)}, ${q(FIELD.absoluteExpiresAt)})
if not meta[2] then return -1 end
if meta[1] ~= ARGV[3] then return 0 end
if math.min(tonumber(meta[2]), tonumber(meta[3])) <= tonumber(ARGV[4]) then return 0 end
redis.call('HSET', KEYS[1], ${q(FIELD.principal)}, ARGV[5], ${q(FIELD.rotationDue)}, '1')
invalidate(KEYS[1])
return 1
`,
);

/**
 * KEYS[1] a user's index, a sorted set of session ids scored by their
 * absoluteExpiresAt. ARGV[1] now (ms); ARGV[2] n; ARGV[3..2+n] ids to remove;
 * the rest score/id pairs to add. Drops entries past their absolute expiry,
 * then sets the key to expire with its longest-lived entry, so the index
 * never outlives the sessions it covers and is never immortal. Returns the
 * ids that remain.
 */
export const INDEX = lua(
  `
local key = KEYS[1]
local n = tonumber(ARGV[2])
if n > 0 then redis.call('ZREM', key, unpack(ARGV, 3, 2 + n)) end
local i = 3 + n
while i <= #ARGV do
  local last = math.min(i + 199, #ARGV)
  redis.call('ZADD', key, unpack(ARGV, i, last))
  i = last + 1
end
redis.call('ZREMRANGEBYSCORE', key, '-inf', ARGV[1])
local top = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
if #top == 0 then return {} end
redis.call('PEXPIREAT', key, math.ceil(tonumber(top[2])))
return redis.call('ZRANGE', key, 0, -1)
`,
);
