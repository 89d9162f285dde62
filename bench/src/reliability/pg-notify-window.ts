/**
 * The window of the session cache on a PostgreSQL server (issue 12: "measure
 * the window between commit and delivery on another instance under load").
 *
 * Two processes, each with its own pg Pool, PostgresStore and SessionManager
 * with `cache: { acceptDelayedInvalidation: true }`: the writer A (this
 * process) and the reader B (a child). B holds every session in its cache
 * (two reads each). Per trial, A signs one session out; as soon as A's
 * `signOut` resolved (the writer's acknowledgement, when an app would answer
 * its client) A tells B over IPC (a pipe: about the cost of the client's next
 * request), and B reads the old cookie at once. Meanwhile B's event loop is
 * kept busy (a task burning `--busy` ms, rescheduled with setImmediate, so
 * that B's loop is saturated and yields between tasks, as a loaded server's).
 *
 * Figures: "acknowledged → applied on B" (the time from A's acknowledgement to
 * B's LISTEN connection delivering the invalidation, through B's own feed;
 * negative when it arrived before A was answered), as p50/p99/max in ms; and
 * how many of B's reads accepted the signed-out session after A's
 * acknowledgement. Run by hand (it is not part of `npm run reliability`):
 *
 *   node bench/dist/src/reliability/pg-notify-window.js [--trials 2000] [--busy 2]
 *
 * with BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { SessionManager, type Principal } from 'keycard';
import { PostgresStore, pgPoolClient } from 'keycard/postgres';

const TABLE = 'kcbench_pg_notify_window';
const SECRET = 'w'.repeat(32);
const databaseUrl = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** Wall-clock milliseconds with sub-millisecond precision, comparable across processes on one host. */
const clock = (): number => performance.timeOrigin + performance.now();

type ToReader = { type: 'warm'; cookies: string[] } | { type: 'read'; index: number; ackAt: number } | { type: 'done' };
type ToWriter =
  | { type: 'ready' }
  | { type: 'warmed' }
  | { type: 'read'; index: number; accepted: boolean; readAt: number; appliedAt: number | null }
  | { type: 'summary'; lagMs: number };

function open(name: string): { manager: SessionManager; store: PostgresStore; pool: pg.Pool } {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 4, application_name: name });
  const store = new PostgresStore({ client: pgPoolClient(pool), table: TABLE, sweepInterval: 0 });
  const manager = new SessionManager({ secrets: SECRET, store, maxSessionsPerUser: Infinity, cache: { acceptDelayedInvalidation: true } });
  return { manager, store, pool };
}

async function untilServing(manager: SessionManager): Promise<void> {
  const deadline = performance.now() + 10_000;
  while ((manager.store as { serving?: boolean }).serving !== true) {
    if (performance.now() > deadline) throw new Error('the LISTEN feed did not start');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function cookieOf(headers: readonly (readonly [string, string])[]): string {
  const value = headers.find(([name]) => name === 'Set-Cookie')?.[1];
  if (value === undefined) throw new Error('no Set-Cookie');
  return value.split(';')[0] as string;
}

// ——— B: the reader ———

async function reader(busyMs: number): Promise<void> {
  const { manager, store, pool } = open('kcbench-notify-b');
  await untilServing(manager);
  // The ids B's feed delivered, and when: a second sink on the same LISTEN connection as the cache's.
  const applied = new Map<string, number>();
  await store.coherence?.subscribe?.({
    invalidate: (ids) => {
      const at = clock();
      for (const id of ids) if (!applied.has(id)) applied.set(id, at);
    },
    lost: () => undefined,
    restored: () => undefined,
  });
  let ids: string[] = [];
  let cookies: string[] = [];
  let busy = false;
  let worst = 0;
  const burn = (): void => {
    if (!busy) return;
    const started = performance.now();
    while (performance.now() - started < busyMs) {
      // A request's worth of synchronous work.
    }
    worst = Math.max(worst, performance.now() - started);
    setImmediate(burn);
  };
  const send = (message: ToWriter): void => void process.send?.(message);
  process.on('message', (message: ToReader) => {
    void (async () => {
      if (message.type === 'warm') {
        cookies = message.cookies;
        ids = [];
        for (const cookie of cookies) {
          const first = await manager.load({ secure: false, cookieHeader: cookie });
          await manager.load({ secure: false, cookieHeader: cookie });
          ids.push(first.snapshot?.id ?? '');
        }
        busy = true;
        setImmediate(burn);
        send({ type: 'warmed' });
      } else if (message.type === 'read') {
        const session = await manager.load({ secure: false, cookieHeader: cookies[message.index] as string });
        const readAt = clock();
        send({ type: 'read', index: message.index, accepted: session.principal !== null, readAt, appliedAt: applied.get(ids[message.index] as string) ?? null });
      } else {
        busy = false;
        send({ type: 'summary', lagMs: worst });
        await store.close();
        await pool.end();
        process.exit(0);
      }
    })();
  });
  send({ type: 'ready' });
}

// ——— A: the writer ———

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

async function writer(trials: number, busyMs: number): Promise<void> {
  const setup = new pg.Pool({ connectionString: databaseUrl, max: 1 });
  await setup.query(`DROP TABLE IF EXISTS "${TABLE}"`);
  await new PostgresStore({ client: pgPoolClient(setup), table: TABLE, sweepInterval: 0 }).migrate();
  const { manager, store, pool } = open('kcbench-notify-a');
  await untilServing(manager);
  const child: ChildProcess = fork(fileURLToPath(import.meta.url), ['--reader', '--busy', String(busyMs)], { stdio: 'inherit' });
  const next = async <T extends ToWriter['type']>(type: T): Promise<Extract<ToWriter, { type: T }>> => {
    for (;;) {
      const [message] = (await once(child, 'message')) as [ToWriter];
      if (message.type === type) return message as Extract<ToWriter, { type: T }>;
    }
  };
  await next('ready');
  const cookies: string[] = [];
  for (let i = 0; i < trials; i++) {
    const session = await manager.load({ secure: false });
    const principal: Principal = { id: `window-${i}`, roles: ['user'], authVersion: 1 };
    await session.signIn(principal);
    cookies.push(cookieOf(await manager.commit(session)));
  }
  child.send({ type: 'warm', cookies } satisfies ToReader);
  await next('warmed');
  const delivery: number[] = [];
  let accepted = 0;
  let undelivered = 0;
  for (let i = 0; i < trials; i++) {
    const session = await manager.load({ secure: false, cookieHeader: cookies[i] as string });
    await session.signOut();
    const ackAt = clock();
    child.send({ type: 'read', index: i, ackAt } satisfies ToReader);
    const read = await next('read');
    if (read.accepted) accepted++;
    if (read.appliedAt === null) undelivered++;
    else delivery.push(read.appliedAt - ackAt);
  }
  child.send({ type: 'done' } satisfies ToReader);
  const summary = await next('summary');
  await once(child, 'exit');
  await store.close();
  await pool.end();
  await setup.query(`DROP TABLE IF EXISTS "${TABLE}"`);
  await setup.end();
  const sorted = delivery.sort((a, b) => a - b);
  const fmt = (ms: number): string => ms.toFixed(3);
  console.log(`pg-notify-window: ${trials} sign-outs on A, each read at once on B (B's loop busy in ${busyMs} ms tasks; longest task ${fmt(summary.lagMs)} ms)`);
  console.log(`  acknowledged on A → applied on B, ms: p50 ${fmt(percentile(sorted, 50))}, p99 ${fmt(percentile(sorted, 99))}, max ${fmt(sorted.at(-1) ?? NaN)}, min ${fmt(sorted[0] ?? NaN)}`);
  console.log(`  delivered before A's acknowledgement: ${sorted.filter((ms) => ms <= 0).length}/${trials}; not yet delivered when B read: ${undelivered}/${trials}`);
  console.log(`  B's reads that accepted the signed-out session after A's acknowledgement: ${accepted}/${trials}`);
}

const { values } = parseArgs({
  options: { trials: { type: 'string', default: '2000' }, busy: { type: 'string', default: '2' }, reader: { type: 'boolean', default: false } },
});
const busy = Number(values.busy);
if (values.reader) await reader(busy);
else await writer(Number(values.trials), busy).then(() => process.exit(0));
