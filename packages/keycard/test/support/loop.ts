import { monitorEventLoopDelay, performance } from 'node:perf_hooks';

export interface LoopReport {
  /** Longest time between two consecutive setImmediate ticks, in ms: how long the loop was held at once. */
  readonly maxGapMs: number;
  readonly ticks: number;
  readonly durationMs: number;
  /** monitorEventLoopDelay's p99 and max, in ms (1 ms resolution), as a second opinion. */
  readonly delayP99Ms: number;
  readonly delayMaxMs: number;
}

/**
 * Runs `work` while a setImmediate ping loop records the gaps between its
 * ticks. A loop that is never blocked ticks every few microseconds; work done
 * on the main thread shows up as a gap as long as the work.
 */
export async function measureLoop(work: () => Promise<unknown>): Promise<LoopReport> {
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  histogram.enable();
  let running = true;
  let ticks = 0;
  let maxGap = 0;
  let last = performance.now();
  const ping = (): void => {
    const now = performance.now();
    maxGap = Math.max(maxGap, now - last);
    last = now;
    ticks++;
    if (running) setImmediate(ping);
  };
  setImmediate(ping);
  const started = performance.now();
  try {
    await work();
  } finally {
    running = false;
    histogram.disable();
  }
  const durationMs = performance.now() - started;
  // The last stretch (work finished, ping not yet run) counts too.
  maxGap = Math.max(maxGap, performance.now() - last);
  return {
    maxGapMs: maxGap,
    ticks,
    durationMs,
    delayP99Ms: histogram.percentile(99) / 1e6,
    delayMaxMs: histogram.max / 1e6,
  };
}
