/**
 * Resurrection and lost updates, 1000 gated trials each, against keycard and
 * against variant 3 (express-session + connect-redis) side by side. The
 * express-session figures are the harness' proof that it can see the bug.
 */
import { PrivateRedis } from '../harness/redis-server.js';
import { ServerProcess } from '../harness/server-process.js';
import type { Platform } from '../servers/protocol.js';
import { result, type Experiment, type Figure, type Scale } from './experiment.js';
import { GateWatcher, lostUpdateTrial, resurrectionTrial, type Pair } from './races/harness.js';

interface Stack {
  readonly name: string;
  readonly file: string;
  readonly platforms: readonly [Platform, Platform];
  /** keycard must show zero; the comparison stack is only counted. */
  readonly keycard: boolean;
}

const STACKS: readonly Stack[] = [
  { name: 'keycard Express+Redis', file: '../reliability/races/keycard-server.js', platforms: ['express', 'express'], keycard: true },
  { name: 'keycard Express+Fastify on one Redis', file: '../reliability/races/keycard-server.js', platforms: ['express', 'fastify'], keycard: true },
  { name: 'express-session + connect-redis (variant 3)', file: '../reliability/races/express-session-server.js', platforms: ['express', 'express'], keycard: false },
];

const TRIALS: Record<Scale, number> = { quick: 40, full: 1000 };

export interface StackCounts {
  readonly stack: string;
  readonly trials: number;
  readonly resurrected: number;
  readonly lostUpdateTrials: number;
  readonly lostKeys: number;
  /** Status of the gated write in resurrection trials, e.g. { "200": 998, "401": 2 }. */
  readonly writeStatuses: Record<string, number>;
  readonly seconds: number;
}

function bump(histogram: Record<string, number>, status: number): void {
  histogram[status] = (histogram[status] ?? 0) + 1;
}

async function startPair(stack: Stack, redis: PrivateRedis, index: number): Promise<Pair> {
  const namespace = `race${index}`;
  const [pa, pb] = stack.platforms;
  const a = await ServerProcess.start(`${stack.name} A`, stack.file, { platform: pa, store: 'redis', redisUrl: redis.url, namespace });
  const b = await ServerProcess.start(`${stack.name} B`, stack.file, { platform: pb, store: 'redis', redisUrl: redis.url, namespace }).catch(
    async (error: unknown) => {
      await a.stop();
      throw error;
    },
  );
  return { a, b, gateA: new GateWatcher(a), gateB: new GateWatcher(b) };
}

async function runStack(stack: Stack, redis: PrivateRedis, index: number, trials: number): Promise<StackCounts> {
  const pair = await startPair(stack, redis, index);
  const started = performance.now();
  const writeStatuses: Record<string, number> = {};
  let resurrected = 0;
  let lostUpdateTrials = 0;
  let lostKeys = 0;
  try {
    for (let trial = 0; trial < trials; trial++) {
      const resurrection = await resurrectionTrial(pair);
      if (resurrection.resurrected) resurrected++;
      bump(writeStatuses, resurrection.writeStatus);
      const lost = await lostUpdateTrial(pair);
      if (lost.lost > 0) lostUpdateTrials++;
      lostKeys += lost.lost;
    }
  } finally {
    pair.gateA.close();
    pair.gateB.close();
    await pair.a.stop();
    await pair.b.stop();
  }
  return { stack: stack.name, trials, resurrected, lostUpdateTrials, lostKeys, writeStatuses, seconds: (performance.now() - started) / 1000 };
}

export const races: Experiment = {
  name: 'races',
  title: 'Resurrection and lost updates across two instances (gated trials)',
  async run(scale) {
    const trials = TRIALS[scale];
    const redis = await PrivateRedis.start();
    const counts: StackCounts[] = [];
    try {
      for (const [index, stack] of STACKS.entries()) counts.push(await runStack(stack, redis, index, trials));
    } finally {
      await redis.stop();
    }
    const problems: string[] = [];
    const figures: Figure[] = [];
    for (const [index, count] of counts.entries()) {
      const stack = STACKS[index] as Stack;
      figures.push({
        label: `${count.stack}: sessions resurrected`,
        value: `${count.resurrected} of ${count.trials} (gated write answered ${Object.entries(count.writeStatuses)
          .map(([status, n]) => `${status}×${n}`)
          .join(', ')})`,
      });
      figures.push({ label: `${count.stack}: trials with a lost update`, value: `${count.lostUpdateTrials} of ${count.trials} (${count.lostKeys} keys lost)` });
      if (stack.keycard) {
        if (count.resurrected > 0) problems.push(`${count.stack}: ${count.resurrected} of ${count.trials} sessions came back after sign-out`);
        if (count.lostUpdateTrials > 0) problems.push(`${count.stack}: ${count.lostUpdateTrials} of ${count.trials} trials lost a write`);
        const errors = Object.keys(count.writeStatuses).filter((status) => Number(status) >= 500);
        if (errors.length > 0) problems.push(`${count.stack}: the gated write answered ${errors.join(', ')}`);
      }
    }
    return result(figures, problems, { trials, counts });
  },
};
