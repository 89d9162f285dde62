import assert from 'node:assert/strict';
import diagnostics from 'node:diagnostics_channel';
import { after, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { SessionManager, type Clock, type Principal } from '../src/index.js';
import { RedisStore } from '../src/redis/index.js';
import { samplePrincipal, sampleRecord } from '../src/testing/index.js';
import { RedisServer, redisServerSkip } from './support/redis-server.js';

// Its own redis-server, so that the command statistics count this file's traffic only.
const skip = redisServerSkip();
const server = skip ? null : await RedisServer.start();
const client = server ? new Redis({ host: server.host, port: server.port }) : null;
after(async () => {
  client?.disconnect();
  await server?.stop();
});

const SECRET = 'round-trip-test-secret-0123456789abcdef';
const UA_CHROME =
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';

interface Stats {
  /** Calls per command as INFO commandstats names them (e.g. `evalsha`, `config|resetstat`). */
  readonly calls: ReadonlyMap<string, number>;
  /** Writes since the last save (the server's dirty counter): any write moves it. */
  readonly dirty: number;
}

async function stats(): Promise<Stats> {
  const info = String(await (server as RedisServer).command('INFO', 'commandstats', 'persistence'));
  const calls = new Map<string, number>();
  for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) calls.set(match[1] as string, Number(match[2]));
  const dirty = Number(/^rdb_changes_since_last_save:(\d+)/m.exec(info)?.[1]);
  return { calls, dirty };
}

const resetStats = async (): Promise<void> => {
  await (server as RedisServer).command('CONFIG', 'RESETSTAT');
};

/** Commands ioredis sends, seen client-side through its diagnostics channel: a second count, independent of Redis. */
async function countSent<T>(work: () => Promise<T>): Promise<{ result: T; sent: string[] }> {
  const sent: string[] = [];
  const channel = diagnostics.tracingChannel<unknown, { command: string }>('ioredis:command');
  const ignore = (): void => undefined;
  const handlers = {
    start: (context: { command: string }) => void sent.push(context.command),
    end: ignore,
    asyncStart: ignore,
    asyncEnd: ignore,
    error: ignore,
  };
  channel.subscribe(handlers);
  try {
    return { result: await work(), sent };
  } finally {
    channel.unsubscribe(handlers);
  }
}

/** Without the session cache: these tests count what a read that reaches Redis (a cache miss) costs. */
function makeManager(store: RedisStore, clock?: Clock): SessionManager {
  return new SessionManager({ secrets: [SECRET], store, cache: false, ...(clock ? { clock } : {}) });
}

/** Signs a principal in through the manager and returns the request Cookie header that carries it. */
async function signIn(manager: SessionManager, principal: Principal, userAgent?: string): Promise<string> {
  const session = await manager.load({ secure: false, userAgent, ip: '203.0.113.7' });
  await session.signIn(principal);
  session.set('csrf', 'Yk3vS0mE9x7tLqP2wR8uZ1aB4cD6eF0g');
  const headers = await manager.commit(session);
  const setCookie = headers.find(([name]) => name === 'Set-Cookie')?.[1];
  assert.ok(setCookie, 'sign-in sets a cookie');
  return setCookie.split(';')[0] as string;
}

describe('RedisStore round trips and footprint', { skip }, () => {
  const redis = (): Redis => client as Redis;

  it('find — with the session cache, 1000 authenticated reads of a cached session send no command (heartbeats aside)', async () => {
    const store = new RedisStore(redis(), { prefix: 'rt0:' });
    const manager = new SessionManager({ secrets: [SECRET], store });
    for (let i = 0; i < 200 && !(manager.store as { serving?: boolean }).serving; i++) await new Promise((r) => setTimeout(r, 10));
    const cookieHeader = await signIn(manager, samplePrincipal());
    await resetStats();
    const { sent } = await countSent(async () => {
      for (let i = 0; i < 1000; i++) assert.equal((await manager.load({ secure: false, cookieHeader })).isAuthenticated, true);
    });
    const after = await stats();
    // The feed's heartbeat (PING on the subscribed connection, every 100 ms) is the only traffic.
    assert.deepEqual(sent.filter((command) => command !== 'ping'), []);
    assert.equal(after.calls.get('evalsha') ?? 0, 0);
    assert.equal(manager.cacheStats()?.hits, 1000);
    await store.close();
  });

  it('find — 1000 authenticated reads inside the touch interval are 1000 commands, none of them a write (cache off: the miss path)', async () => {
    const store = new RedisStore(redis(), { prefix: 'rt1:' });
    const manager = makeManager(store);
    const cookieHeader = await signIn(manager, samplePrincipal());
    await manager.load({ secure: false, cookieHeader }); // the script is now cached on the server
    const before = await stats();
    await resetStats();
    const { sent } = await countSent(async () => {
      for (let i = 0; i < 1000; i++) {
        const session = await manager.load({ secure: false, cookieHeader });
        assert.equal(session.isAuthenticated, true);
      }
    });
    const after = await stats();
    const reads = after.calls.get('evalsha') ?? 0;
    const inside = after.calls.get('hgetall') ?? 0;
    console.log(
      `1000 reads: client sent ${sent.length} commands (${[...new Set(sent)].join(', ')}); ` +
        `server: evalsha=${reads}, hgetall inside the script=${inside}, writes=${after.dirty - before.dirty}; ` +
        `all commandstats: ${JSON.stringify(Object.fromEntries(after.calls))}`,
    );
    assert.equal(sent.length, 1000);
    assert.deepEqual([...new Set(sent)], ['evalsha']);
    assert.equal(reads, 1000);
    // Nothing else ran on the server: the HGETALLs are the script's own, and config|resetstat is this test's.
    assert.deepEqual([...after.calls.keys()].sort(), ['config|resetstat', 'evalsha', 'hgetall']);
    assert.equal(inside, 1000);
    assert.equal(after.dirty - before.dirty, 0);
    await store.close();
  });

  it('find — a read past the touch interval is still one command, and writes the touch', async () => {
    const store = new RedisStore(redis(), { prefix: 'rt2:' });
    let offset = 0;
    const manager = makeManager(store, { now: () => Date.now() + offset });
    const cookieHeader = await signIn(manager, samplePrincipal());
    await manager.load({ secure: false, cookieHeader });
    offset = 10 * 60_000; // past the default touch interval (180 s), inside the idle timeout (30 min)
    const before = await stats();
    await resetStats();
    const { result: session, sent } = await countSent(() => manager.load({ secure: false, cookieHeader }));
    const after = await stats();
    console.log(
      `read past the touch interval: client sent ${sent.length} command (${sent.join(', ')}); ` +
        `server commandstats ${JSON.stringify(Object.fromEntries(after.calls))}, writes=${after.dirty - before.dirty}`,
    );
    assert.equal(session.isAuthenticated, true);
    assert.deepEqual(sent, ['evalsha']);
    assert.equal(after.calls.get('evalsha'), 1);
    assert.equal(after.calls.get('hset'), 1);
    assert.equal(after.calls.get('pexpireat'), 1);
    assert.ok(after.dirty > before.dirty);
    // The touch is stored: the next read inside the new interval writes nothing.
    const settled = await stats();
    await manager.load({ secure: false, cookieHeader });
    assert.equal((await stats()).dirty, settled.dirty);
    await store.close();
  });

  it('find — when the server lost its script cache, the first read falls back to EVAL once', async () => {
    const store = new RedisStore(redis(), { prefix: 'rt3:' });
    const record = sampleRecord();
    await store.create(record);
    await (server as RedisServer).command('SCRIPT', 'FLUSH');
    await resetStats();
    assert.equal((await store.find(record.id, Date.now(), Infinity))?.id, record.id);
    assert.equal((await store.find(record.id, Date.now(), Infinity))?.id, record.id);
    const after = await stats();
    assert.equal(after.calls.get('evalsha'), 2); // the first answered NOSCRIPT
    assert.equal(after.calls.get('eval'), 1);
    await store.close();
  });

  it('no KEYS or SCAN on any path, and every key written has a TTL', async () => {
    const prefix = 'rt4:';
    const store = new RedisStore(redis(), { prefix });
    const manager = makeManager(store);
    await resetStats();
    const revoked = new Promise<void>((resolve) => void store.onRevoked(() => resolve()));
    const alice = samplePrincipal();
    const anonymous = sampleRecord({ data: { cart: [1] } });
    await store.create(anonymous);
    await store.update(anonymous.id, { set: { step: 2 } });
    const signedIn = sampleRecord({ principal: alice, handle: anonymous.handle });
    await store.rotate(anonymous.id, signedIn);
    await store.find(signedIn.id, Date.now() + 600_000, 60_000);
    const phone = await signIn(manager, alice, 'phone');
    await manager.listSessions(alice.id);
    await manager.refreshPrincipal({ ...alice, roles: ['admin'] });
    await manager.load({ secure: false, cookieHeader: phone }); // rotates: principal refreshed
    await store.revokeAll(alice.id, signedIn.id);
    await revoked;
    const { calls } = await stats();
    const forbidden = [...calls.keys()].filter((name) => /^(keys|scan|hscan|sscan|zscan)$/.test(name));
    assert.deepEqual(forbidden, []);
    // SCAN here is the test looking, after the statistics were taken.
    const keys: string[] = [];
    for await (const batch of redis().scanStream({ match: `${prefix}*` })) keys.push(...(batch as string[]));
    assert.ok(keys.length >= 2, `keys left: ${keys.join(', ')}`);
    for (const key of keys) assert.ok((await redis().pttl(key)) > 0, `${key} has no TTL`);
    await store.close();
  });

  it('memory — bytes per signed-in session (hash plus its share of the user index)', async () => {
    const principal: Principal = { id: 'user-4f1c2a9e', roles: ['user'], authVersion: 1, claims: { name: 'Ada Lovelace' } };
    const measure = async (prefix: string, userAgent: string | undefined): Promise<string> => {
      const store = new RedisStore(redis(), { prefix });
      const manager = makeManager(store);
      const cookieHeader = await signIn(manager, principal, userAgent);
      const session = await manager.load({ secure: false, cookieHeader });
      const id = session.snapshot?.id as string;
      const hashBytes = Number(await redis().memory('USAGE', store.sessionKey(id), 'SAMPLES', 0));
      const encoding = await redis().object('ENCODING', store.sessionKey(id));
      const indexOne = Number(await redis().memory('USAGE', store.userKey(principal.id), 'SAMPLES', 0));
      for (let i = 0; i < 9; i++) await signIn(manager, principal, userAgent);
      const indexTen = Number(await redis().memory('USAGE', store.userKey(principal.id), 'SAMPLES', 0));
      await store.revokeAll(principal.id);
      await store.close();
      assert.ok(hashBytes > 0 && indexOne > 0);
      return (
        `hash ${hashBytes} B (${encoding}), index ${indexOne} B for 1 session / ${indexTen} B for 10 ` +
        `(${(indexTen / 10).toFixed(0)} B each) → ${hashBytes + indexOne} B for a user's only session, ` +
        `${(hashBytes + indexTen / 10).toFixed(0)} B each at 10 per user`
      );
    };
    const previous = (await redis().config('GET', 'hash-max-listpack-value')) as string[];
    try {
      console.log(`bytes per session, no user agent: ${await measure('mem1:', undefined)}`);
      console.log(`bytes per session, Chrome user agent (${UA_CHROME.length} chars): ${await measure('mem2:', UA_CHROME)}`);
      // Values over 64 bytes turn a hash into a hashtable; a larger limit keeps typical sessions compact.
      await redis().config('SET', 'hash-max-listpack-value', '256');
      console.log(`bytes per session, Chrome user agent, hash-max-listpack-value 256: ${await measure('mem3:', UA_CHROME)}`);
    } finally {
      await redis().config('SET', 'hash-max-listpack-value', previous[1] ?? '64');
    }
  });
});
