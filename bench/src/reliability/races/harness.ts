/**
 * Drives two or three instances of one stack through gated races. A trial's
 * interleaving is fixed by the gate (gate.ts): the harness waits until the
 * write request reports that its session is loaded, runs the competing
 * request to completion, then releases the write.
 */
import { randomUUID } from 'node:crypto';
import type { ServerProcess } from '../../harness/server-process.js';
import type { GateToServer } from './gate.js';

const HELD_TIMEOUT_MS = 10_000;

export interface Reply {
  readonly status: number;
  readonly body: string;
}

/** Waits for `held` messages by id, so a release is never sent before its request is parked. */
export class GateWatcher {
  private readonly seen = new Set<string>();
  private readonly waiters = new Map<string, () => void>();
  private readonly stop: () => void;

  constructor(private readonly server: ServerProcess) {
    this.stop = server.onMessage((message) => {
      const id = (message as { id?: unknown }).id;
      if (message.type !== 'held' || typeof id !== 'string') return;
      const waiter = this.waiters.get(id);
      if (waiter) {
        this.waiters.delete(id);
        waiter();
      } else {
        this.seen.add(id);
      }
    });
  }

  held(id: string): Promise<void> {
    if (this.seen.delete(id)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(id);
        reject(new Error(`${this.server.name}: request ${id} never reached the gate\n${this.server.output()}`));
      }, HELD_TIMEOUT_MS);
      this.waiters.set(id, () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  release(id: string): void {
    this.server.post({ type: 'release', id } satisfies GateToServer);
  }

  close(): void {
    this.stop();
  }
}

export async function send(base: string, method: string, path: string, cookie?: string): Promise<Reply & { cookie: string | undefined }> {
  // A hung server fails the trial instead of stalling the run.
  const response = await fetch(base + path, { method, headers: cookie === undefined ? {} : { cookie }, signal: AbortSignal.timeout(15_000) });
  const body = await response.text();
  const pairs = response.headers.getSetCookie().map((line) => line.split(';', 1)[0] ?? '');
  return { status: response.status, body, cookie: pairs.length > 0 ? pairs.join('; ') : undefined };
}

/** A fresh signed-in session on `base` for a new user: its cookie and the user's id. */
export async function signIn(base: string): Promise<{ cookie: string; user: string }> {
  const user = randomUUID();
  const reply = await send(base, 'POST', `/login?user=${user}`);
  if (reply.status !== 200 || reply.cookie === undefined) {
    throw new Error(`sign-in answered ${reply.status} ${reply.body} without a cookie`);
  }
  return { cookie: reply.cookie, user };
}

/**
 * The instances of one trial: `a` and `b` write and sign out (gated), and the
 * optional `c` only reads, holding the session in its cache from before the
 * race (proven by `cached`), so that a cache that missed the race's outcome
 * would answer with the old state.
 */
export interface Group {
  readonly a: ServerProcess;
  readonly b: ServerProcess;
  readonly c?: ServerProcess;
  readonly gateA: GateWatcher;
  readonly gateB: GateWatcher;
  /** Gets the session into C's cache; false when no read of it was a cache hit. Absent: no C, or a stack without a cache. */
  readonly cached?: (user: string, cookie: string) => Promise<boolean>;
}

const instances = (group: Group): ServerProcess[] => (group.c === undefined ? [group.a, group.b] : [group.a, group.b, group.c]);

export interface ResurrectionTrial {
  readonly resurrected: boolean;
  readonly writeStatus: number;
  readonly logoutStatus: number;
  /** C held the session in its cache before the race; undefined without C's cache. */
  readonly cachedOnC: boolean | undefined;
}

/**
 * A session-modifying request in flight on A while the session is signed out
 * on B. Resurrected when, afterwards, the old cookie still opens a session on
 * any instance.
 */
export async function resurrectionTrial(group: Group): Promise<ResurrectionTrial> {
  const { cookie, user } = await signIn(group.a.baseUrl);
  const cachedOnC = await group.cached?.(user, cookie);
  const id = randomUUID();
  const parked = group.gateA.held(id);
  const write = send(group.a.baseUrl, 'POST', `/write?key=written&hold=${id}`, cookie);
  await parked;
  const logout = await send(group.b.baseUrl, 'POST', '/logout', cookie);
  group.gateA.release(id);
  const written = await write;
  let resurrected = false;
  for (const server of instances(group)) {
    if ((await send(server.baseUrl, 'GET', '/state', cookie)).status === 200) resurrected = true;
  }
  return { resurrected, writeStatus: written.status, logoutStatus: logout.status, cachedOnC };
}

export interface LostUpdateTrial {
  /** Keys missing from the session afterwards, on the instance that missed most. */
  readonly lost: number;
  readonly writeStatuses: readonly [number, number];
  readonly cachedOnC: boolean | undefined;
}

/**
 * Two requests, one per instance, each holding the same loaded session and
 * each writing a different key; both released together. Lost: keys missing
 * from the session afterwards, read on every instance.
 */
export async function lostUpdateTrial(group: Group): Promise<LostUpdateTrial> {
  const { cookie, user } = await signIn(group.a.baseUrl);
  const cachedOnC = await group.cached?.(user, cookie);
  const first = randomUUID();
  const second = randomUUID();
  const parked = Promise.all([group.gateA.held(first), group.gateB.held(second)]);
  const writes = Promise.all([
    send(group.a.baseUrl, 'POST', `/write?key=first&hold=${first}`, cookie),
    send(group.b.baseUrl, 'POST', `/write?key=second&hold=${second}`, cookie),
  ]);
  await parked;
  group.gateA.release(first);
  group.gateB.release(second);
  const [a, b] = await writes;
  let lost = 0;
  for (const server of instances(group)) {
    const state = await send(server.baseUrl, 'GET', '/state', cookie);
    if (state.status !== 200) throw new Error(`reading the session on ${server.name} after two writes answered ${state.status} ${state.body}`);
    const keys = (JSON.parse(state.body) as { keys: string[] }).keys;
    lost = Math.max(lost, ['first', 'second'].filter((key) => !keys.includes(key)).length);
  }
  return { lost, writeStatuses: [a.status, b.status], cachedOnC };
}
