/**
 * The background sweep every store with expiring entries runs: one unref'd
 * interval per store (never one timer per entry), so it never keeps the
 * process alive and costs nothing per request.
 */

/** Calls `sweep` every `seconds`; no timer when `seconds` is 0 (or not positive). Clear it with `clearInterval`. */
export function sweepEvery(seconds: number, sweep: () => unknown): NodeJS.Timeout | undefined {
  if (!(seconds > 0)) return undefined;
  const timer = setInterval(sweep, seconds * 1000);
  timer.unref();
  return timer;
}

/** Removes, through `remove`, every entry of `entries` expired at `now`; returns how many. */
export function sweepExpired<K, V extends { readonly expiresAt: number }>(
  entries: ReadonlyMap<K, V>,
  now: number,
  remove: (key: K, entry: V) => void,
): number {
  let removed = 0;
  for (const [key, entry] of entries) {
    if (entry.expiresAt <= now) {
      remove(key, entry);
      removed++;
    }
  }
  return removed;
}
