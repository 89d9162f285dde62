/**
 * Listing and revoking one user's sessions must cost the same whatever else
 * is in Redis (the per-user index at work): a target user with a handful of
 * sessions, timed among N background sessions of many other users, at a
 * small and a large N.
 *
 * The background is written by a pipeline (HSET + PEXPIREAT per session,
 * ZADD + PEXPIREAT per user) rather than a million `RedisStore.create` calls;
 * before each fill, records written both ways are compared with DUMP and
 * PEXPIRETIME, so the keys are the store's own, byte for byte. The target's
 * sessions always go through `RedisStore.create`.
 *
 * Timings are reported, never asserted. What is checked: the listing returns
 * exactly the target's sessions, revocation removes exactly them (DBSIZE),
 * and the Redis commands each operation runs (INFO commandstats deltas) are
 * the same at both sizes.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import type { Principal, SessionRecord } from 'keycard';
import { RedisStore } from 'keycard/redis';
import { PrivateRedis } from '../harness/redis-server.js';
import { result, type Experiment, type ExperimentResult, type Figure, type Scale } from './experiment.js';

const USER_AGENTS = [
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/138.0.0.0 Safari/537.36',
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.5 Safari/605.1.15',
  'Mozilla/5.0 (iPhone; CPU iPhone OS 18_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.5 Mobile/15E148 Safari/604.1',
  'Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0',
];
const TARGET_SESSIONS = 10;
const IDLE_MS = 30 * 60_000;
const ABSOLUTE_MS = 12 * 3_600_000;
/** Users written per pipeline; two pipelines in flight. */
const FILL_BATCH_USERS = 2_000;
/** Operations whose commands are counted (apart from the timed ones). */
const COUNTED_REPS = 3;
/** Untimed repetitions before each timed series (JIT, connection, allocator warm-up). */
const WARMUP_REPS = 20;

/** Background users hold 1, 2 or 3 sessions (2 on average). */
function sessionsOfUser(index: number): number {
  return 1 + (index % 3);
}

function randomIp(bytes: Buffer, offset: number): string {
  return `${(bytes[offset] ?? 0) % 223 + 1}.${bytes[offset + 1] ?? 0}.${bytes[offset + 2] ?? 0}.${bytes[offset + 3] ?? 0}`;
}

function principalOf(userId: string, n: number): Principal {
  return { id: userId, roles: n % 50 === 0 ? ['user', 'admin'] : ['user'], authVersion: 1, claims: { email: `user${n}@example.com`, name: `User ${n}` } };
}

/** A realistic signed-in record, live for the whole run (created within the last hours, seen within the last minutes). */
function makeRecord(principal: Principal, now: number, n: number): SessionRecord {
  const random = randomBytes(32 + 16 + 8);
  const createdAt = now - (random.readUInt16BE(48) % 3_600) * 1_000;
  const lastSeenAt = Math.max(createdAt, now - (random.readUInt16BE(50) % 600) * 1_000);
  const absoluteExpiresAt = createdAt + ABSOLUTE_MS;
  return {
    id: random.subarray(0, 32).toString('base64url'),
    handle: random.subarray(32, 48).toString('base64url'),
    principal,
    data: {},
    createdAt,
    lastSeenAt,
    authenticatedAt: createdAt,
    idleTimeout: IDLE_MS,
    idleExpiresAt: Math.min(lastSeenAt + IDLE_MS, absoluteExpiresAt),
    absoluteExpiresAt,
    remember: false,
    rotationDue: false,
    userAgent: USER_AGENTS[n % USER_AGENTS.length] ?? null,
    ip: randomIp(random, 52),
  };
}

/**
 * The hash fields RedisStore writes for a record, in its order: a copy of
 * keycard/redis `encodeRecord` (not exported), held to it by `identityCheck`.
 */
function hashFields(record: SessionRecord): string[] {
  const out = [
    '#h', record.handle,
    '#c', String(record.createdAt),
    '#s', String(record.lastSeenAt),
    '#t', String(record.idleTimeout),
    '#i', String(record.idleExpiresAt),
    '#x', String(record.absoluteExpiresAt),
    '#r', record.remember ? '1' : '0',
    '#d', record.rotationDue ? '1' : '0',
  ];
  if (record.principal) out.push('#p', JSON.stringify(record.principal), '#u', record.principal.id);
  if (record.authenticatedAt !== null) out.push('#a', String(record.authenticatedAt));
  if (record.userAgent !== null) out.push('#ua', record.userAgent);
  if (record.ip !== null) out.push('#ip', record.ip);
  for (const [key, value] of Object.entries(record.data)) out.push(`.${key}`, JSON.stringify(value));
  return out;
}

/** Writes one user's records as the store would, onto a pipeline. */
function pipelineUser(pipeline: ReturnType<Redis['pipeline']>, store: RedisStore, userId: string, records: readonly SessionRecord[]): void {
  const members: (string | number)[] = [];
  let top = 0;
  for (const record of records) {
    const key = store.sessionKey(record.id);
    pipeline.hset(key, ...hashFields(record));
    pipeline.pexpireat(key, Math.ceil(Math.min(record.idleExpiresAt, record.absoluteExpiresAt)));
    members.push(record.absoluteExpiresAt, record.id);
    top = Math.max(top, record.absoluteExpiresAt);
  }
  pipeline.zadd(store.userKey(userId), ...members);
  pipeline.pexpireat(store.userKey(userId), Math.ceil(top));
}

async function dumpOf(client: Redis, key: string): Promise<string> {
  const [dump, expireAt] = await Promise.all([client.dumpBuffer(key), client.call('PEXPIRETIME', key)]);
  return `${dump?.toString('hex') ?? 'absent'}@${String(expireAt)}`;
}

/**
 * Writes the same three records through RedisStore.create and through the
 * pipeline, and compares every key's DUMP and absolute expiry. Returns the
 * differences (none expected).
 */
async function identityCheck(client: Redis, store: RedisStore): Promise<string[]> {
  const userId = randomUUID();
  const now = Date.now();
  const records = [0, 1, 2].map((n) => makeRecord(principalOf(userId, n), now, n));
  const keys = [...records.map((r) => store.sessionKey(r.id)), store.userKey(userId)];
  for (const record of records) await store.create(record);
  const byStore = await Promise.all(keys.map((key) => dumpOf(client, key)));
  await client.del(...keys);
  const pipeline = client.pipeline();
  pipelineUser(pipeline, store, userId, records);
  await pipeline.exec();
  const byPipeline = await Promise.all(keys.map((key) => dumpOf(client, key)));
  await client.del(...keys);
  return keys.flatMap((key, i) =>
    byStore[i] === byPipeline[i] ? [] : [`pipelined fill differs from RedisStore.create for ${key.replace(/:[^:]+$/, ':…')}`],
  );
}

/** Fills `sessions` background sessions; returns the user ids (for spot checks) and the number of users. */
async function fill(client: Redis, store: RedisStore, sessions: number): Promise<{ users: number; sample: Map<string, number> }> {
  const now = Date.now();
  const sample = new Map<string, number>();
  let written = 0;
  let user = 0;
  const inFlight: Promise<unknown>[] = [];
  while (written < sessions) {
    const pipeline = client.pipeline();
    for (let i = 0; i < FILL_BATCH_USERS && written < sessions; i++, user++) {
      const userId = randomUUID();
      const count = Math.min(sessionsOfUser(user), sessions - written);
      const records = Array.from({ length: count }, (_, k) => makeRecord(principalOf(userId, user), now, user + k));
      pipelineUser(pipeline, store, userId, records);
      written += count;
      if (user % 997 === 0) sample.set(userId, count);
    }
    inFlight.push(
      pipeline.exec().then((replies) => {
        const failed = replies?.find(([error]) => error !== null);
        if (failed) throw failed[0] as Error;
      }),
    );
    if (inFlight.length >= 2) await inFlight.shift();
  }
  await Promise.all(inFlight);
  return { users: user, sample };
}

type CommandStats = Map<string, number>;

async function commandStats(client: Redis): Promise<CommandStats> {
  const info = await client.info('commandstats');
  const stats: CommandStats = new Map();
  for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) stats.set(match[1] as string, Number(match[2]));
  return stats;
}

/** Commands run between two readings, INFO itself left out, as "evalsha×11 hgetall×10 …" (sorted by name). */
function commandDelta(before: CommandStats, after: CommandStats): string {
  const parts: string[] = [];
  for (const [name, calls] of [...after].sort(([a], [b]) => a.localeCompare(b))) {
    const delta = calls - (before.get(name) ?? 0);
    if (delta > 0 && name !== 'info') parts.push(`${name}×${delta}`);
  }
  return parts.join(' ');
}

export interface Timing {
  readonly reps: number;
  readonly medianMs: number;
  readonly p99Ms: number;
}

export interface OperationResult extends Timing {
  /** Redis commands per operation (INFO commandstats delta), identical across the counted repetitions. */
  readonly commands: string;
}

export interface ScaleResult {
  readonly background: number;
  readonly backgroundUsers: number;
  readonly fillSeconds: number;
  readonly usedMemoryBytes: number;
  readonly dbsize: number;
  readonly list: OperationResult;
  readonly revokeAll: OperationResult;
  readonly revokeOne: OperationResult;
}

export interface IndexScaleData {
  readonly targetSessions: number;
  readonly scales: readonly ScaleResult[];
  /** For each operation, whether the command counts were equal at every N. */
  readonly commandsEqual: { readonly list: boolean; readonly revokeAll: boolean; readonly revokeOne: boolean };
}

function timing(samples: readonly number[]): Timing {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (p: number): number => sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)] ?? Number.NaN;
  return { reps: sorted.length, medianMs: at(0.5), p99Ms: at(0.99) };
}

/** One N: fresh Redis, identity check, fill, then the timed operations on the target. */
async function measureScale(background: number, reps: number, problems: string[]): Promise<ScaleResult> {
  const redis = await PrivateRedis.start();
  const client = new Redis(redis.url, { lazyConnect: true });
  try {
    await client.connect();
    const store = new RedisStore(client);
    const tag = `N=${background}`;
    for (const difference of await identityCheck(client, store)) problems.push(`${tag}: ${difference}`);

    const started = performance.now();
    const { users, sample } = await fill(client, store, background);
    const fillSeconds = (performance.now() - started) / 1000;
    const backgroundKeys = background + users;
    const filled = await client.dbsize();
    if (filled !== backgroundKeys) problems.push(`${tag}: fill left ${filled} keys, expected ${backgroundKeys}`);
    const usedMemoryBytes = Number(/^used_memory:(\d+)/m.exec(await client.info('memory'))?.[1] ?? Number.NaN);

    const targetId = randomUUID();
    const principal = principalOf(targetId, 0);
    let target: SessionRecord[] = [];
    const recreate = async (): Promise<void> => {
      const now = Date.now();
      target = Array.from({ length: TARGET_SESSIONS }, (_, n) => makeRecord(principal, now, n));
      for (const record of target) await store.create(record);
    };
    const sameIds = (records: readonly SessionRecord[], expected: readonly SessionRecord[]): boolean => {
      const ids = new Set(records.map((r) => r.id));
      return ids.size === expected.length && expected.every((r) => ids.has(r.id));
    };

    // ——— list ———
    await recreate();
    const listOnce = async (): Promise<void> => {
      const listed = await store.listByUser(targetId, Date.now());
      if (!sameIds(listed, target)) problems.push(`${tag}: listByUser returned ${listed.length} sessions, not exactly the target's ${target.length}`);
    };
    await listOnce(); // loads the scripts (the first call after a restart falls back to EVAL)
    const listCommands = await countCommands(client, listOnce);
    const listSamples: number[] = [];
    for (let i = -WARMUP_REPS; i < reps; i++) {
      const took = await timed(listOnce);
      if (i >= 0) listSamples.push(took);
    }
    await store.revokeAll(targetId);

    // ——— revoke all ———
    const revokeAllOnce = async (): Promise<void> => {
      const handles = await store.revokeAll(targetId);
      const expected = new Set(target.map((r) => r.handle));
      if (handles.length !== expected.size || !handles.every((h) => expected.has(h))) {
        problems.push(`${tag}: revokeAll returned ${handles.length} handles, not exactly the target's ${expected.size}`);
      }
    };
    const checkRevokedAll = async (): Promise<void> => {
      const left = await client.dbsize();
      if (left !== backgroundKeys) problems.push(`${tag}: after revoking the target's sessions ${left} keys remain, expected ${backgroundKeys}`);
    };
    await recreate();
    await revokeAllOnce(); // loads the scripts, as for the listing
    await checkRevokedAll();
    const revokeAllCommands = await countCommands(client, revokeAllOnce, recreate, checkRevokedAll);
    const revokeAllSamples: number[] = [];
    for (let i = -WARMUP_REPS; i < reps; i++) {
      await recreate();
      const took = await timed(revokeAllOnce);
      if (i >= 0) revokeAllSamples.push(took);
      await checkRevokedAll();
    }

    // ——— revoke one ———
    let victim: SessionRecord | undefined;
    const prepareOne = async (): Promise<void> => {
      await recreate();
      victim = target[Math.floor(Math.random() * target.length)];
    };
    const revokeOneOnce = async (): Promise<void> => {
      if (!victim || !(await store.destroy(victim.id))) problems.push(`${tag}: destroy of one live session returned false`);
    };
    const checkRevokedOne = async (): Promise<void> => {
      const left = await client.dbsize();
      // The target's other sessions and its index remain.
      if (left !== backgroundKeys + TARGET_SESSIONS) problems.push(`${tag}: after revoking one session ${left} keys remain, expected ${backgroundKeys + TARGET_SESSIONS}`);
      const listed = await store.listByUser(targetId, Date.now());
      if (!sameIds(listed, target.filter((r) => r !== victim))) problems.push(`${tag}: after revoking one session the listing is not the other ${TARGET_SESSIONS - 1}`);
      await store.revokeAll(targetId);
    };
    const revokeOneCommands = await countCommands(client, revokeOneOnce, prepareOne, checkRevokedOne);
    const revokeOneSamples: number[] = [];
    for (let i = -WARMUP_REPS; i < reps; i++) {
      await prepareOne();
      const took = await timed(revokeOneOnce);
      if (i >= 0) revokeOneSamples.push(took);
      await checkRevokedOne();
    }

    // The background is untouched: spot-check some users' listings.
    for (const [userId, count] of sample) {
      const listed = await store.listByUser(userId, Date.now());
      if (listed.length !== count) problems.push(`${tag}: background user lists ${listed.length} sessions, expected ${count}`);
    }
    const dbsize = await client.dbsize();
    if (dbsize !== backgroundKeys) problems.push(`${tag}: ${dbsize} keys at the end, expected the ${backgroundKeys} background keys`);

    await store.close();
    return {
      background,
      backgroundUsers: users,
      fillSeconds,
      usedMemoryBytes,
      dbsize,
      list: { ...timing(listSamples), commands: listCommands.commands },
      revokeAll: { ...timing(revokeAllSamples), commands: revokeAllCommands.commands },
      revokeOne: { ...timing(revokeOneSamples), commands: revokeOneCommands.commands },
    };
  } finally {
    client.disconnect();
    await redis.stop();
  }
}

async function timed(operation: () => Promise<void>): Promise<number> {
  const start = performance.now();
  await operation();
  return performance.now() - start;
}

/**
 * The commands one operation runs, from INFO commandstats around it (nothing
 * else talks to this Redis), over COUNTED_REPS repetitions that must agree.
 */
async function countCommands(
  client: Redis,
  operation: () => Promise<void>,
  prepare: () => Promise<void> = async () => {},
  afterwards: () => Promise<void> = async () => {},
): Promise<{ commands: string }> {
  const seen = new Set<string>();
  let commands = '';
  for (let i = 0; i < COUNTED_REPS; i++) {
    await prepare();
    const before = await commandStats(client);
    await operation();
    commands = commandDelta(before, await commandStats(client));
    seen.add(commands);
    await afterwards();
  }
  if (seen.size > 1) commands = [...seen].join(' | ');
  return { commands };
}

const ms = (value: number): string => `${value.toFixed(2)} ms`;

function figuresOf(scales: readonly ScaleResult[]): Figure[] {
  const out: Figure[] = [];
  const ops = [
    ['list', 'listByUser (10 sessions)'],
    ['revokeAll', 'revokeAll (revoke all 10)'],
    ['revokeOne', 'destroy (revoke one)'],
  ] as const;
  for (const s of scales) {
    out.push({
      label: `fill N = ${s.background.toLocaleString('en-US')} (${s.backgroundUsers.toLocaleString('en-US')} users)`,
      value: `${s.fillSeconds.toFixed(1)} s, used_memory ${(s.usedMemoryBytes / 1_048_576).toFixed(1)} MiB`,
    });
    for (const [key, label] of ops) {
      const op = s[key];
      out.push({ label: `${label}, N = ${s.background.toLocaleString('en-US')}`, value: `median ${ms(op.medianMs)}, p99 ${ms(op.p99Ms)} (${op.reps} reps)` });
    }
  }
  const small = scales[0];
  const large = scales.at(-1);
  if (small && large && small !== large) {
    for (const [key, label] of ops) {
      out.push({
        label: `${label}: median N = ${large.background.toLocaleString('en-US')} / N = ${small.background.toLocaleString('en-US')}`,
        value: `${(large[key].medianMs / small[key].medianMs).toFixed(2)}×`,
      });
    }
    for (const [key, label] of ops) out.push({ label: `Redis commands per ${label}`, value: large[key].commands });
  }
  return out;
}

export const indexScale: Experiment = {
  name: 'index-scale',
  title: "Listing and revoking one user's sessions among 1 000 and 1 000 000 sessions",
  async run(scale: Scale): Promise<ExperimentResult> {
    const sizes = scale === 'full' ? [1_000, 1_000_000] : [1_000, 20_000];
    const reps = scale === 'full' ? 300 : 100;
    const problems: string[] = [];
    const scales: ScaleResult[] = [];
    for (const size of sizes) scales.push(await measureScale(size, reps, problems));
    const equal = (key: 'list' | 'revokeAll' | 'revokeOne'): boolean => new Set(scales.map((s) => s[key].commands)).size === 1;
    const commandsEqual = { list: equal('list'), revokeAll: equal('revokeAll'), revokeOne: equal('revokeOne') };
    for (const [key, same] of Object.entries(commandsEqual)) {
      if (!same) problems.push(`${key}: Redis commands differ with N: ${scales.map((s) => `${s.background}: ${s[key as 'list'].commands}`).join('; ')}`);
    }
    for (const s of scales) {
      for (const key of ['list', 'revokeAll', 'revokeOne'] as const) {
        if (s[key].commands.includes('|')) problems.push(`N=${s.background} ${key}: commands varied between repetitions: ${s[key].commands}`);
      }
    }
    const data: IndexScaleData = { targetSessions: TARGET_SESSIONS, scales, commandsEqual };
    return result(figuresOf(scales), problems, data);
  },
};
