/**
 * A simulated user: registers, then runs random operations one after the
 * other from its devices against random instances, keeping a model of which
 * of its sessions are alive and checking every answer against it. Users run
 * concurrently; one user's operations are sequential, so its model is exact
 * except where a 503 left an outcome unknown — those are resolved by the
 * next answer that shows them.
 */
import { randomUUID } from 'node:crypto';
import { Device, type Answer } from './device.js';
import type { Journal } from './journal.js';
import { pick, weighted } from './random.js';

type Status = 'live' | 'dead' | 'unknown';

interface Seat {
  readonly name: string;
  readonly device: Device;
  status: Status;
  /** The public handle of its session, once a listing showed it as current. */
  handle: string | undefined;
}

const MAX_DEVICES = 4;
const WEIGHTS = { read: 40, list: 16, signIn: 10, revoke: 10, signOut: 8, password: 4, readDead: 12 } as const;
type Operation = keyof typeof WEIGHTS;

export interface UserContext {
  readonly instances: readonly string[];
  readonly journal: Journal;
  readonly random: () => number;
  readonly deadline: number;
  /** Stop after this many operations even before the deadline (tests run a fixed amount of work). */
  readonly maxOperations?: number;
}

export class SimulatedUser {
  private readonly email = `user-${randomUUID()}@reliability.test`;
  /** Candidates, most likely first: a password change answered 503 leaves two. */
  private passwords = [`pw-${randomUUID()}`];
  private readonly seats: Seat[] = [];
  /** Sign-ins answered 503: each may have left a session nobody holds a cookie for. */
  private orphans = 0;

  constructor(private readonly context: UserContext) {}

  async run(): Promise<void> {
    await this.register();
    const limit = this.context.maxOperations ?? Infinity;
    for (let done = 0; done < limit && performance.now() < this.context.deadline; done++) await this.step();
  }

  /** After the run, outside any fault: every device's session is what the model says. */
  async verifyAll(): Promise<void> {
    for (const seat of this.seats) {
      this.context.journal.count('final check');
      await this.read(seat);
    }
  }

  private instance(): string {
    return pick(this.context.random, this.context.instances);
  }

  private live(): Seat[] {
    return this.seats.filter((seat) => seat.status === 'live');
  }

  /**
   * Checks an answer (journal.check). Callers treat anything but 'ok' on a
   * state-changing request as "outcome unknown", so that one wrong answer is
   * counted once, not again by every later answer that follows from it —
   * except 'overloaded' (the hashing queue refused it before anything
   * changed), after which the model keeps its state, for later answers to check.
   */
  private check(what: string, seat: Seat | undefined, answer: Answer, expected: readonly number[], kind: 'session-read' | 'hashes' | 'other' = 'other') {
    return this.context.journal.check(`${this.email} ${what}${seat ? ` (${seat.name}, ${seat.status})` : ''}`, answer, expected, kind);
  }

  private async register(): Promise<void> {
    const seat = this.addSeat();
    const password = this.passwords[0] as string;
    for (;;) {
      this.context.journal.count('register');
      const answer = await seat.device.send(this.instance(), 'POST', '/api/auth/register', { email: this.email, password, name: 'Reliability' });
      const outcome = this.check('register', undefined, answer, [201, 409], 'hashes');
      if (outcome === 'overloaded') continue; // refused before hashing: nobody registered
      if (outcome === 'ok') {
        if (answer.status === 201) seat.status = 'live';
        else await this.signIn(seat);
        return;
      }
      if (outcome === 'wrong') throw new Error(`registration of ${this.email} failed: ${answer.status}`);
      await this.signIn(seat).catch(() => undefined);
      if (seat.status === 'live') return;
    }
  }

  private addSeat(): Seat {
    const seat: Seat = { name: `device ${this.seats.length + 1}`, device: new Device(`reliability/${this.seats.length + 1}`), status: 'dead', handle: undefined };
    this.seats.push(seat);
    return seat;
  }

  private async step(): Promise<void> {
    const live = this.live();
    let operation: Operation = weighted(this.context.random, WEIGHTS);
    if (live.length === 0) operation = 'signIn';
    if (operation === 'signIn' && live.length >= MAX_DEVICES) operation = 'read';
    if (operation === 'readDead' && this.seats.every((seat) => seat.status === 'live')) operation = 'read';
    this.context.journal.count(operation);
    switch (operation) {
      case 'read':
        return this.read(pick(this.context.random, live.length > 0 ? live : this.seats));
      case 'readDead':
        return this.read(pick(this.context.random, this.seats.filter((seat) => seat.status !== 'live')));
      case 'list':
        return this.list(pick(this.context.random, live));
      case 'signIn':
        return this.signIn(this.addSeat());
      case 'revoke':
        return this.revoke(pick(this.context.random, live));
      case 'signOut':
        return this.signOut(pick(this.context.random, live));
      case 'password':
        return this.changePassword(pick(this.context.random, live));
    }
  }

  private async read(seat: Seat): Promise<void> {
    const answer = await seat.device.send(this.instance(), 'GET', '/api/auth/me');
    const expected = seat.status === 'live' ? [200] : seat.status === 'dead' ? [401] : [200, 401];
    if (this.check('read', seat, answer, expected, 'session-read') !== 'ok') return;
    if (answer.status === 200) {
      const email = (answer.body as { user?: { email?: string } }).user?.email;
      if (email !== this.email) this.context.journal.fail(`${this.email} read (${seat.name}): answered as ${String(email)}`);
    }
    seat.status = answer.status === 200 ? 'live' : 'dead';
  }

  private async list(seat: Seat): Promise<void> {
    const answer = await seat.device.send(this.instance(), 'GET', '/api/auth/sessions');
    if (this.check('list', seat, answer, [200], 'session-read') !== 'ok') return;
    const sessions = (answer.body as { sessions: { id: string; current: boolean }[] }).sessions;
    const ids = new Set(sessions.map((session) => session.id));
    const current = sessions.filter((session) => session.current);
    const fail = (message: string) => this.context.journal.fail(`${this.email} list (${seat.name}): ${message}`);
    if (current.length !== 1) return fail(`${current.length} sessions marked current`);
    const currentId = (current[0] as { id: string }).id;
    if (seat.handle !== undefined && seat.handle !== currentId) fail(`current is ${currentId}, this device's session is ${seat.handle}`);
    seat.handle = currentId;
    for (const other of this.seats) {
      if (other.handle === undefined || other === seat) continue;
      const listed = ids.has(other.handle);
      if (other.status === 'live' && !listed) fail(`${other.name}'s live session is missing`);
      if (other.status === 'dead' && listed) fail(`${other.name}'s ended session is still listed`);
      if (other.status === 'unknown') other.status = listed ? 'live' : 'dead';
    }
    const live = this.live().length;
    const unknown = this.seats.filter((other) => other.status === 'unknown').length;
    if (ids.size < live || ids.size > live + unknown + this.orphans) {
      fail(`${ids.size} sessions listed, the model has ${live} live, ${unknown} unknown, ${this.orphans} possible orphans`);
    }
  }

  private async signIn(seat: Seat): Promise<void> {
    for (const password of this.passwords) {
      const answer = await seat.device.send(this.instance(), 'POST', '/api/auth/login', { email: this.email, password });
      const certain = this.passwords.length === 1;
      const outcome = this.check('sign-in', seat, answer, certain ? [200] : [200, 401], 'hashes');
      if (outcome === 'overloaded') return; // refused before the password was checked: no session
      if (outcome !== 'ok') {
        // A failed sign-in may still have stored a session that nobody holds a cookie for.
        if (answer.stage === 'request') this.orphans++;
        return;
      }
      if (answer.status === 200) {
        seat.status = 'live';
        this.passwords = [password];
        return;
      }
      this.passwords = this.passwords.filter((candidate) => candidate !== password);
    }
  }

  private async revoke(seat: Seat): Promise<void> {
    const targets = this.seats.filter((other) => other !== seat && other.handle !== undefined);
    if (targets.length === 0) return this.list(seat);
    const target = pick(this.context.random, targets);
    const answer = await seat.device.send(this.instance(), 'DELETE', `/api/auth/sessions/${target.handle}`);
    const expected = target.status === 'live' ? [204] : target.status === 'dead' ? [404] : [204, 404];
    const outcome = this.check(`revoke ${target.name}`, seat, answer, expected);
    if (outcome === 'ok') target.status = 'dead';
    else if (answer.stage === 'request') target.status = 'unknown';
  }

  private async signOut(seat: Seat): Promise<void> {
    const answer = await seat.device.send(this.instance(), 'POST', '/api/auth/logout');
    const outcome = this.check('sign-out', seat, answer, [204]);
    if (outcome === 'ok') seat.status = 'dead';
    else if (answer.stage === 'request') seat.status = 'unknown';
  }

  private async changePassword(seat: Seat): Promise<void> {
    if (this.passwords.length > 1) return this.signIn(this.addSeat());
    const currentPassword = this.passwords[0] as string;
    const newPassword = `pw-${randomUUID()}`;
    const cookieBefore = seat.device.session;
    const answer = await seat.device.send(this.instance(), 'POST', '/api/auth/password', { currentPassword, newPassword });
    const outcome = this.check('password change', seat, answer, [204], 'hashes');
    if (outcome === 'overloaded') return; // refused before either hash: the old password and every session stand
    if (outcome === 'ok') {
      for (const other of this.seats) if (other !== seat) other.status = 'dead';
      // Rotated: same device, a new session id; the cookie it had before must be dead at once.
      seat.handle = undefined;
      this.passwords = [newPassword];
      if (cookieBefore !== undefined && cookieBefore !== seat.device.session) {
        const before = this.addSeat();
        before.device.session = cookieBefore;
      }
    } else if (answer.stage === 'request') {
      // The store failed somewhere after the hash changed: the demo puts the old hash back, but
      // this client cannot tell how far it got; either password, any session, this one included.
      this.passwords = [newPassword, currentPassword];
      for (const other of this.seats) if (other.status === 'live') other.status = 'unknown';
      seat.handle = undefined;
    }
  }
}
