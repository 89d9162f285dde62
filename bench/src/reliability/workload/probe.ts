/**
 * A signed-in client that nothing else touches, reading GET /api/auth/me
 * from every instance all through the run, one reader loop per instance (a
 * read that waits out the store timeout on one instance must not delay the
 * samples of the others): its timeline shows when each instance started
 * answering 503 and when it was back.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { Device } from './device.js';

/** Between one instance's reads. */
const PERIOD_MS = 40;

export interface ProbeSample {
  readonly instance: number;
  readonly at: number;
  readonly status: number;
  readonly ms: number;
}

export class Probe {
  readonly samples: ProbeSample[] = [];
  private readonly device = new Device('reliability/probe');

  constructor(private readonly instances: readonly string[]) {}

  async signIn(): Promise<void> {
    const email = `probe-${randomUUID()}@reliability.test`;
    const answer = await this.device.send(this.instances[0] as string, 'POST', '/api/auth/register', {
      email,
      password: `pw-${randomUUID()}`,
      name: 'Probe',
    });
    if (answer.status !== 201) throw new Error(`the probe could not register: ${answer.status} ${JSON.stringify(answer.body)}`);
  }

  /** Reads until `deadline`, every instance at once, one read per instance every PERIOD_MS. */
  async run(deadline: number): Promise<void> {
    await Promise.all(
      this.instances.map(async (url, instance) => {
        while (performance.now() < deadline) {
          const answer = await this.device.send(url, 'GET', '/api/auth/me');
          this.samples.push({ instance, at: answer.at, status: answer.status, ms: answer.ms });
          await delay(PERIOD_MS);
        }
      }),
    );
  }
}

export interface Window {
  readonly instance: number;
  /** First non-200 after the kill, ms after the kill; undefined when it never failed. */
  readonly firstErrorAfterKillMs: number | undefined;
  /** The first 200 after the last non-200, ms after Redis answered again. */
  readonly backAfterRestartMs: number | undefined;
  readonly errorWindowMs: number;
  /** Failures before the kill, and statuses other than 200 and 503 after it (must be none). */
  readonly unexpected: readonly number[];
}

/** Each instance's error window around a kill at `killedAt` and Redis answering again at `restartedAt`. */
export function errorWindows(samples: readonly ProbeSample[], instances: number, killedAt: number, restartedAt: number): Window[] {
  const windows: Window[] = [];
  for (let instance = 0; instance < instances; instance++) {
    const mine = samples.filter((sample) => sample.instance === instance);
    // Any failure before the kill is one nothing explains: reported, and kept out of the window.
    const early = mine.filter((sample) => sample.status !== 200 && sample.at + sample.ms < killedAt);
    const failures = mine.filter((sample) => sample.status !== 200 && sample.at + sample.ms >= killedAt);
    const first = failures[0];
    const last = failures[failures.length - 1];
    const back = last === undefined ? undefined : mine.find((sample) => sample.at > last.at && sample.status === 200);
    windows.push({
      instance,
      firstErrorAfterKillMs: first === undefined ? undefined : first.at - killedAt,
      backAfterRestartMs: back === undefined ? undefined : back.at + back.ms - restartedAt,
      errorWindowMs: first === undefined || back === undefined ? 0 : back.at + back.ms - first.at,
      unexpected: [...early, ...failures.filter((sample) => sample.status !== 503)].map((sample) => sample.status),
    });
  }
  return windows;
}
