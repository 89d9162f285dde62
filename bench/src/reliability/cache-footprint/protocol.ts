/** What the `cache-footprint` runner and its worker process say to each other. */

export const FOOTPRINT_PLAN_ENV = 'KEYCARD_CACHE_FOOTPRINT_PLAN';

export type Pattern = 'round-robin' | 'zipf';

export interface CacheLimits {
  readonly maxEntries?: number;
  readonly maxBytes?: number;
}

export interface Population {
  readonly label: string;
  readonly sessions: number;
  /** The cache option; undefined: keycard's defaults (10 000 entries, 32 MiB). */
  readonly limits?: CacheLimits;
  readonly patterns: readonly Pattern[];
  /** Measured reads per pattern, after the warm-up. */
  readonly reads: number;
}

export interface FootprintPlan {
  readonly redisUrl: string;
  readonly prefix: string;
  readonly seed: number;
  readonly populations: readonly Population[];
  /** The heap slope: `sessions` read into a default cache in `steps` steps. */
  readonly memory: { readonly sessions: number; readonly steps: number };
}

export interface PatternFigures {
  readonly pattern: Pattern;
  readonly reads: number;
  readonly hits: number;
  readonly misses: number;
  /** Reads that went to Redis because the invalidation feed was late (not a capacity miss). */
  readonly bypassed: number;
  readonly evictions: number;
  readonly flushes: number;
  /** hits / (hits + misses) over the measured reads. */
  readonly hitRate: number;
  readonly readsPerSecond: number;
  readonly entries: number;
  readonly bytes: number;
  /** The largest entries and bytes seen after any batch of reads. */
  readonly peakEntries: number;
  readonly peakBytes: number;
}

export interface MemoryFigures {
  readonly points: readonly { readonly entries: number; readonly heapBytes: number; readonly estimatedBytes: number }[];
  /** Least-squares slope of heap bytes (after GC) over entries held. */
  readonly heapBytesPerEntry: number;
  /** The cache's own heap estimate (what `maxBytes` counts) per entry. */
  readonly estimatedBytesPerEntry: number;
}

export interface FootprintReply {
  readonly type: 'result';
  readonly sessions: number;
  readonly signInSeconds: number;
  readonly memory: MemoryFigures;
  readonly populations: readonly (Omit<Population, 'patterns'> & { readonly patterns: readonly PatternFigures[] })[];
}

export type FromFootprintWorker = FootprintReply | { readonly type: 'error'; readonly message: string };
