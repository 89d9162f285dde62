/**
 * What a reliability server tells its harness about the session cache, over
 * IPC (not HTTP, so asking adds no request and no cache lookup):
 * `SessionManager.cacheStats()`, and how often the store itself was asked for
 * a session of a given user. The second is what lets a trial prove that its
 * session was held in a reader's cache before the change, even on an instance
 * whose cache counters are dominated by a load generator's reads: a read the
 * cache answered adds no store find.
 *
 * The same wrapper builds the experiments' negative control: a store that
 * claims to be the only writer (`coherence.mode: 'exclusive'`), so that the
 * cache is on but hears nothing of other instances' writes. The experiments
 * must see that cache's stale answers, or they could not see a real one.
 */
import type { SessionManager, SessionRecord, SessionStore } from 'keycard';
import type { ServerProcess } from '../harness/server-process.js';

/** Set to "1" in a server's environment: the negative control (an incoherent cache). */
export const INCOHERENT_ENV = 'KEYCARD_RELIABILITY_INCOHERENT_CACHE';

export type CacheStats = NonNullable<ReturnType<SessionManager['cacheStats']>>;

export interface CacheProbeRequest {
  readonly type: 'cache-probe';
  /** Echoed in the reply: trials run in parallel ask the same server at once. */
  readonly id: number;
  /** The user whose store finds to count; none for the stats alone. */
  readonly user?: string;
}

export interface CacheProbeReply {
  readonly type: 'cache-probe';
  readonly id: number;
  /** Null when the cache is off. */
  readonly stats: CacheStats | null;
  /** Store finds (reads the cache did not answer) that returned a session of `user`, since start. */
  readonly finds: number;
}

export interface CountedStore {
  readonly store: SessionStore;
  findsOf(user: string): number;
}

/**
 * `store` with its finds counted per user. Every other member is the real
 * store's, bound to it (RedisStore keeps private state); `incoherent` replaces
 * its coherence with the lie described above.
 */
export function countFinds(store: SessionStore, options: { readonly incoherent?: boolean } = {}): CountedStore {
  const finds = new Map<string, number>();
  const exclusive = Object.freeze({ mode: 'exclusive' as const });
  const counted = new Proxy(store, {
    get(target, property) {
      if (property === 'coherence' && options.incoherent === true) return exclusive;
      const value: unknown = Reflect.get(target, property, target);
      if (property === 'find') {
        return async (...args: Parameters<SessionStore['find']>): Promise<SessionRecord | null> => {
          const record = await target.find(...args);
          const user = record?.principal?.id;
          if (user !== undefined) finds.set(user, (finds.get(user) ?? 0) + 1);
          return record;
        };
      }
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
  return { store: counted, findsOf: (user) => finds.get(user) ?? 0 };
}

/** Server side: answers the harness' `cache-probe` messages. */
export function answerCacheProbes(manager: SessionManager, counted: CountedStore): void {
  process.on('message', (message: Partial<CacheProbeRequest>) => {
    if (message.type !== 'cache-probe' || typeof message.id !== 'number') return;
    const reply: CacheProbeReply = {
      type: 'cache-probe',
      id: message.id,
      stats: manager.cacheStats(),
      finds: typeof message.user === 'string' ? counted.findsOf(message.user) : 0,
    };
    process.send?.(reply);
  });
}

let nextProbe = 0;
const PROBE_TIMEOUT_MS = 10_000;

/** Harness side: the server's cache stats and the store finds of `user`; the reply is matched by id. */
export function probeCache(server: ServerProcess, user?: string): Promise<CacheProbeReply> {
  const id = nextProbe++;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      stop();
      reject(new Error(`${server.name} did not answer cache probe ${id} within ${PROBE_TIMEOUT_MS} ms`));
    }, PROBE_TIMEOUT_MS);
    const stop = server.onMessage((message) => {
      const reply = message as Partial<CacheProbeReply>;
      if (reply.type !== 'cache-probe' || reply.id !== id) return;
      clearTimeout(timer);
      stop();
      resolve(reply as CacheProbeReply);
    });
    server.post({ type: 'cache-probe', id, ...(user === undefined ? {} : { user }) } satisfies CacheProbeRequest);
  });
}

/** How long a trial may keep reading to get its session into a reader's cache (a feed late under load bypasses the cache). */
export const WARM_DEADLINE_MS = 3000;

/**
 * Reads `cookie` on `server` until one read is answered by the cache (the
 * store's finds of `user` did not move), for at most `WARM_DEADLINE_MS`.
 * `read` must answer 200 for a live session. True when a hit was seen.
 */
export async function warmUntilCached(server: ServerProcess, user: string, read: () => Promise<number>): Promise<boolean> {
  const deadline = performance.now() + WARM_DEADLINE_MS;
  let before = (await probeCache(server, user)).finds;
  do {
    const status = await read();
    if (status !== 200) throw new Error(`${server.name}: a live session read as ${status} before the change`);
    const after = (await probeCache(server, user)).finds;
    // Without the cache every read of a live session is a store find: a 200 without one was a hit.
    if (after === before) return true;
    before = after;
  } while (performance.now() < deadline);
  return false;
}
