/** Messages between the runner and the load worker process. */

export interface LoadRequest {
  readonly type: 'run';
  readonly url: string;
  /** Cookie headers, sent round-robin one per request (one entry: every request sends it). */
  readonly cookies: readonly string[];
  readonly connections: number;
  /** Seconds. */
  readonly duration: number;
}

export interface LoadResult {
  /** Completed requests (any status). */
  readonly requests: number;
  /** Seconds autocannon actually ran. */
  readonly seconds: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly non2xx: number;
  readonly errors: number;
  readonly timeouts: number;
}

export type FromLoadWorker =
  | { readonly type: 'ready' }
  | { readonly type: 'result'; readonly result: LoadResult }
  | { readonly type: 'error'; readonly message: string };
