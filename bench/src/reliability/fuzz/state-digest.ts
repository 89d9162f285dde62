/**
 * The state a rejected request must not change, as one comparable map:
 * every users row (PostgreSQL) and every session record and per-user index
 * (Redis, keycard's RedisStore layout: `keycard:s:<id>` hashes and
 * `keycard:u:<user>` sorted sets).
 *
 * Left out on purpose, because a rejected request changes them by design:
 * - the sign-in throttle's counters (`keycard:rl:*`): counting failed
 *   sign-ins is what they are for, so a rejected login must change them;
 * - a session's last-seen time and idle expiry (hash fields `#s` and `#i`)
 *   and every key's TTL: a request that presents a valid session and is then
 *   refused (403, 404, 400) still "touches" the session, which extends its
 *   idle expiry (SPEC: "the expiry is extended at most once per touch interval").
 */
import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';

/** Key of a piece of state (`users/<id>`, `redis/<key>`) → its canonical content. */
export type Snapshot = ReadonlyMap<string, string>;

const THROTTLE_PREFIX = 'keycard:rl:';
const TOUCHED_FIELDS = new Set(['#s', '#i']);

export class StateDigest {
  private constructor(
    private readonly redis: Redis,
    private readonly users: () => Promise<readonly object[]>,
  ) {}

  /** `users` returns the rows of the users table (e.g. `deployment.query('SELECT * FROM users')`). */
  static async open(redisUrl: string, users: () => Promise<readonly object[]>): Promise<StateDigest> {
    const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
    redis.on('error', () => {});
    await redis.connect();
    return new StateDigest(redis, users);
  }

  async take(): Promise<Snapshot> {
    const [rows, keys] = await Promise.all([this.users(), this.redisState()]);
    const state = new Map<string, string>();
    for (const row of rows) {
      const id = (row as { id?: unknown }).id;
      state.set(`users/${String(id)}`, JSON.stringify(row));
    }
    for (const [key, value] of keys) state.set(`redis/${key}`, value);
    return state;
  }

  async close(): Promise<void> {
    this.redis.disconnect();
  }

  private async redisState(): Promise<Map<string, string>> {
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await this.redis.scan(cursor, 'COUNT', 1000);
      cursor = next;
      keys.push(...batch.filter((key) => !key.startsWith(THROTTLE_PREFIX)));
    } while (cursor !== '0');
    const state = new Map<string, string>();
    await Promise.all(
      keys.map(async (key) => {
        const content = await this.contentOf(key);
        if (content !== null) state.set(key, content);
      }),
    );
    return state;
  }

  /** Canonical content of one key; null when it vanished meanwhile (expired). */
  private async contentOf(key: string): Promise<string | null> {
    const type = await this.redis.type(key);
    switch (type) {
      case 'none':
        return null;
      case 'hash': {
        const fields = Object.entries(await this.redis.hgetall(key)).filter(([field]) => !TOUCHED_FIELDS.has(field));
        return `hash ${JSON.stringify(fields.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))}`;
      }
      case 'zset':
        return `zset ${JSON.stringify(await this.redis.zrange(key, '0', '-1', 'WITHSCORES'))}`;
      case 'string':
        return `string ${JSON.stringify(await this.redis.get(key))}`;
      case 'set':
        return `set ${JSON.stringify((await this.redis.smembers(key)).sort())}`;
      case 'list':
        return `list ${JSON.stringify(await this.redis.lrange(key, 0, -1))}`;
      default:
        return type;
    }
  }
}

/** The keys whose content differs between two snapshots (added, removed or changed), sorted. */
export function changedKeys(before: Snapshot, after: Snapshot): string[] {
  const changed = new Set<string>();
  for (const [key, value] of before) if (after.get(key) !== value) changed.add(key);
  for (const key of after.keys()) if (!before.has(key)) changed.add(key);
  return [...changed].sort();
}

/** A short fingerprint of a snapshot, for the results JSON. */
export function fingerprint(snapshot: Snapshot): string {
  const hash = createHash('sha256');
  for (const key of [...snapshot.keys()].sort()) hash.update(`${key}\0${snapshot.get(key) ?? ''}\0`);
  return hash.digest('hex').slice(0, 16);
}
