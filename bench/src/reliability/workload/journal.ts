/**
 * What the workload saw, checked as it goes: every answer is compared with
 * what the model says that client must get, and a 503 is only acceptable
 * while the store is down (plus the recovery allowance).
 */
import type { Answer } from './device.js';

const KEEP_EXAMPLES = 30;

export interface FaultClock {
  /**
   * Whether a request sent at `sentAt` and answered at `doneAt` may have been
   * answered 503: Redis died before the answer, and came back less than the
   * recovery allowance before it was sent.
   */
  allows503(sentAt: number, doneAt: number): boolean;
}

export class Journal {
  readonly operations: Record<string, number> = {};
  readonly statuses: Record<string, number> = {};
  readonly wrong: string[] = [];
  wrongCount = 0;
  outageAnswers = 0;
  /** 503 KEYCARD_OVERLOADED + Retry-After: the password hasher's queue was full (SPEC), nothing changed. */
  overloadedAnswers = 0;
  /** Latency of every 503 to a request that needs a session (reads and lists), ms. */
  readonly read503Ms: number[] = [];
  /** Every request that needed the session (reads and lists): when it was sent and how long it took. */
  readonly sessionReads: { readonly at: number; readonly ms: number }[] = [];

  constructor(private readonly faults: FaultClock) {}

  count(operation: string): void {
    this.operations[operation] = (this.operations[operation] ?? 0) + 1;
  }

  /**
   * 'ok' when the status is one of `expected`; 'outage' for a 503 inside the
   * fault window (the caller then treats the outcome as unknown); for an
   * operation that hashes a password, 'overloaded' for the SPEC's 503 +
   * Retry-After with KEYCARD_OVERLOADED at any time (the hasher's queue was
   * full, so the request was refused before anything changed: the caller
   * changes nothing in the model, and later answers check that); otherwise
   * the answer is recorded as wrong and 'wrong' returned.
   */
  check(what: string, answer: Answer, expected: readonly number[], kind: 'session-read' | 'hashes' | 'other' = 'other'): 'ok' | 'outage' | 'overloaded' | 'wrong' {
    this.statuses[answer.status] = (this.statuses[answer.status] ?? 0) + 1;
    const sessionRead = kind === 'session-read';
    if (sessionRead && answer.stage === 'request') this.sessionReads.push({ at: answer.at, ms: answer.ms });
    if (expected.includes(answer.status)) return 'ok';
    if (kind === 'hashes' && isOverloaded(answer)) {
      this.overloadedAnswers++;
      return 'overloaded';
    }
    if (answer.status === 503 && this.faults.allows503(answer.at, answer.at + answer.ms)) {
      this.outageAnswers++;
      if (sessionRead && answer.stage === 'request') this.read503Ms.push(answer.ms);
      return 'outage';
    }
    this.fail(`${what}: expected ${expected.join(' or ')}, got ${answer.status} ${(JSON.stringify(answer.body) ?? '(no body)').slice(0, 200)}`);
    return 'wrong';
  }

  /** A wrong answer the status alone does not show (a list missing a live session, …). */
  fail(message: string): void {
    this.wrongCount++;
    if (this.wrong.length < KEEP_EXAMPLES) this.wrong.push(message);
  }
}

/** The hashing queue's refusal as the SPEC gives it: 503, Retry-After, keycard's code. */
function isOverloaded(answer: Answer): boolean {
  const code = (answer.body as { code?: unknown } | undefined)?.code;
  return answer.stage === 'request' && answer.status === 503 && code === 'KEYCARD_OVERLOADED' && answer.retryAfter !== undefined && /^\d+$/.test(answer.retryAfter);
}
