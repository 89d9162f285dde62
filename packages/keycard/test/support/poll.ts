/**
 * Polls `attempt` until it returns true, every `intervalMs`, and fails after
 * `ms`: waiting for a condition with a deadline, never a fixed sleep.
 * Resolves to the time it took, in ms.
 */
export async function within(ms: number, attempt: () => Promise<boolean>, what: string, intervalMs = 20): Promise<number> {
  const started = performance.now();
  for (;;) {
    if (await attempt()) return performance.now() - started;
    if (performance.now() - started >= ms) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** Runs `work` and returns its result with the time it took, in ms. */
export async function timed<T>(work: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const started = performance.now();
  const value = await work();
  return { value, ms: performance.now() - started };
}

/**
 * Records 'unhandledRejection' and 'uncaughtException' while installed: an
 * outage must not leave a promise rejection nobody handles, nor throw from a
 * client library's event. `stop()` waits one macrotask turn (so that a
 * rejection left unhandled just before is reported) and returns what it saw.
 */
export function watchProcessFailures(): { readonly seen: readonly unknown[]; stop(): Promise<readonly unknown[]> } {
  const seen: unknown[] = [];
  const onFailure = (reason: unknown): void => void seen.push(reason);
  process.on('unhandledRejection', onFailure);
  process.on('uncaughtException', onFailure);
  return {
    seen,
    async stop() {
      await new Promise((resolve) => setImmediate(resolve));
      process.off('unhandledRejection', onFailure);
      process.off('uncaughtException', onFailure);
      return seen;
    },
  };
}
