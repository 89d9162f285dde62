/**
 * Drives two instances of one stack through gated races. A trial's
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

/** A fresh signed-in session on `base`; its cookie. */
export async function signIn(base: string): Promise<string> {
  const reply = await send(base, 'POST', `/login?user=${randomUUID()}`);
  if (reply.status !== 200 || reply.cookie === undefined) {
    throw new Error(`sign-in answered ${reply.status} ${reply.body} without a cookie`);
  }
  return reply.cookie;
}

export interface Pair {
  readonly a: ServerProcess;
  readonly b: ServerProcess;
  readonly gateA: GateWatcher;
  readonly gateB: GateWatcher;
}

export interface ResurrectionTrial {
  readonly resurrected: boolean;
  readonly writeStatus: number;
  readonly logoutStatus: number;
}

/**
 * A session-modifying request in flight on A while the session is signed out
 * on B. Resurrected when, afterwards, the old cookie still opens a session on
 * either instance.
 */
export async function resurrectionTrial(pair: Pair): Promise<ResurrectionTrial> {
  const cookie = await signIn(pair.a.baseUrl);
  const id = randomUUID();
  const parked = pair.gateA.held(id);
  const write = send(pair.a.baseUrl, 'POST', `/write?key=written&hold=${id}`, cookie);
  await parked;
  const logout = await send(pair.b.baseUrl, 'POST', '/logout', cookie);
  pair.gateA.release(id);
  const written = await write;
  const onA = await send(pair.a.baseUrl, 'GET', '/state', cookie);
  const onB = await send(pair.b.baseUrl, 'GET', '/state', cookie);
  return { resurrected: onA.status === 200 || onB.status === 200, writeStatus: written.status, logoutStatus: logout.status };
}

export interface LostUpdateTrial {
  readonly lost: number;
  readonly writeStatuses: readonly [number, number];
}

/**
 * Two requests, one per instance, each holding the same loaded session and
 * each writing a different key; both released together. Lost: keys missing
 * from the session afterwards.
 */
export async function lostUpdateTrial(pair: Pair): Promise<LostUpdateTrial> {
  const cookie = await signIn(pair.a.baseUrl);
  const first = randomUUID();
  const second = randomUUID();
  const parked = Promise.all([pair.gateA.held(first), pair.gateB.held(second)]);
  const writes = Promise.all([
    send(pair.a.baseUrl, 'POST', `/write?key=first&hold=${first}`, cookie),
    send(pair.b.baseUrl, 'POST', `/write?key=second&hold=${second}`, cookie),
  ]);
  await parked;
  pair.gateA.release(first);
  pair.gateB.release(second);
  const [a, b] = await writes;
  const state = await send(pair.a.baseUrl, 'GET', '/state', cookie);
  if (state.status !== 200) throw new Error(`reading the session after two writes answered ${state.status} ${state.body}`);
  const keys = (JSON.parse(state.body) as { keys: string[] }).keys;
  const lost = ['first', 'second'].filter((key) => !keys.includes(key)).length;
  return { lost, writeStatuses: [a.status, b.status] };
}
