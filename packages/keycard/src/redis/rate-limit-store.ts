import { randomBytes } from 'node:crypto';
import { InvalidOptionsError } from '../core/errors.js';
import type { RateLimitResult, RateLimitRule, RateLimitState, RateLimitStore } from '../throttle/rate-limit-store.js';
import type { RedisClient } from './redis-store.js';
import { evalLua, lua, type LuaScript } from './scripts.js';

export interface RedisRateLimitStoreOptions {
  /**
   * Prepended to every key. Default `keycard:rl:` (beside the session store's
   * default `keycard:` keys, never colliding with them).
   */
  readonly prefix?: string;
}

// Each script touches exactly one key (KEYS[1]), so each runs atomically on the
// one node that owns the key: correct on Redis Cluster without hash tags.
// Times travel as decimal strings in ARGV and are compared as scores; Lua only
// does arithmetic on them for the TTL (doubles are exact for ms timestamps).

/** ARGV: now, floor (now - windowMs), limit, member, windowMs. Returns {allowed, count, oldestScore}. */
const CONSUME = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
local limit = tonumber(ARGV[3])
local count = redis.call('ZCARD', KEYS[1])
local allowed = 0
if count < limit then
  redis.call('ZADD', KEYS[1], ARGV[1], ARGV[4])
  count = count + 1
  allowed = 1
end
if count > limit then
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, count - limit - 1)
  count = limit
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local newest = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
local ttl = tonumber(newest[2]) + tonumber(ARGV[5]) - tonumber(ARGV[1])
if ttl < 1 then ttl = 1 end
redis.call('PEXPIRE', KEYS[1], math.ceil(ttl))
return {allowed, count, oldest[2]}
`;

/** ARGV: floor, limit. Read-only. Returns {count, oldestScore}. */
const PEEK = `
local kept = redis.call('ZREVRANGEBYSCORE', KEYS[1], '+inf', '(' .. ARGV[1], 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[2]))
return {#kept / 2, kept[#kept]}
`;

/** ARGV: at. Returns 1 when one entry scored exactly \`at\` was removed. */
const RELEASE = `
local found = redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[1], ARGV[1], 'LIMIT', 0, 1)
if found[1] then
  redis.call('ZREM', KEYS[1], found[1])
  return 1
end
return 0
`;

const SCRIPTS = { consume: lua(CONSUME), peek: lua(PEEK), release: lua(RELEASE) } as const;

/**
 * Rate-limit counters in Redis: one sorted set per key (score = time of the
 * entry, member = time plus random bytes so that entries at the same
 * millisecond stay distinct), at most `limit` members, updated by one Lua
 * script per call, with a TTL set on every write to when the newest entry
 * leaves its window — so no key outlives its usefulness, and a
 * `maxmemory-policy` that evicts only keys with a TTL (volatile-*) may take it.
 */
export class RedisRateLimitStore implements RateLimitStore {
  private readonly client: RedisClient;
  private readonly prefix: string;

  /** `client`: an ioredis client (standalone, Sentinel or Cluster), shared freely; the store never closes it. */
  constructor(client: RedisClient, options: RedisRateLimitStoreOptions = {}) {
    if (client === null || typeof client !== 'object' || typeof client.evalsha !== 'function') {
      throw new InvalidOptionsError('keycard/redis: RedisRateLimitStore needs an ioredis client (Redis or Cluster)');
    }
    this.client = client;
    this.prefix = options.prefix ?? 'keycard:rl:';
  }

  async consume(key: string, now: number, rule: RateLimitRule): Promise<RateLimitResult> {
    const member = `${now}:${randomBytes(6).toString('base64url')}`;
    const reply = await this.run(SCRIPTS.consume, key, [now, now - rule.windowMs, rule.limit, member, rule.windowMs]);
    const [allowed, count, oldest] = reply as [number, number, string | null];
    return { allowed: allowed === 1, count, oldestAt: oldest == null ? null : Number(oldest) };
  }

  async peek(key: string, now: number, rule: RateLimitRule): Promise<RateLimitState> {
    const reply = await this.run(SCRIPTS.peek, key, [now - rule.windowMs, rule.limit]);
    const [count, oldest] = reply as [number, string | null];
    return { count, oldestAt: oldest == null ? null : Number(oldest) };
  }

  async release(key: string, at: number): Promise<boolean> {
    return (await this.run(SCRIPTS.release, key, [at])) === 1;
  }

  async reset(key: string): Promise<void> {
    await this.client.del(this.prefix + key);
  }

  async close(): Promise<void> {}

  /** One script on one key (evalLua: EVALSHA, EVAL when the server has not cached it). */
  private run(script: LuaScript, key: string, args: readonly (string | number)[]): Promise<unknown> {
    return evalLua(this.client, script, this.prefix + key, args.map(String));
  }

}
