// The parts of autocannon 9's programmatic API the load worker uses; the
// package ships no types.
declare module 'autocannon' {
  import type { EventEmitter } from 'node:events';

  interface Histogram {
    readonly average: number;
    readonly p50: number;
    readonly p99: number;
    readonly total: number;
  }
  interface Options {
    readonly url: string;
    readonly connections?: number;
    readonly duration?: number;
    readonly headers?: Record<string, string>;
    /** Requests sent in turn; `setupRequest` may rewrite each one before it is built. */
    readonly requests?: readonly RequestOptions[];
  }
  interface RequestOptions {
    readonly setupRequest?: (request: RequestData) => RequestData;
  }
  interface RequestData {
    readonly path?: string;
    readonly method?: string;
    readonly headers?: Record<string, string>;
  }
  interface Result {
    readonly requests: Histogram;
    /** Whole milliseconds: autocannon's histogram truncates. */
    readonly latency: Histogram;
    /** Seconds. */
    readonly duration: number;
    readonly errors: number;
    readonly timeouts: number;
    readonly non2xx: number;
  }
  /** Emits `response` (client, statusCode, resBytes, responseTime in fractional ms) per response. */
  interface Instance extends EventEmitter, PromiseLike<Result> {
    on(event: 'response', listener: (client: unknown, statusCode: number, resBytes: number, responseTime: number) => void): this;
  }
  function autocannon(options: Options): Instance;
  export type { Options, RequestOptions, RequestData };
  export default autocannon;
}
