/**
 * A probe that runs at most once at a time (every caller meanwhile shares
 * its answer), and whose answer is then reused for `reuseMs(answer)`
 * milliseconds: an unauthenticated health endpoint must not turn each of a
 * flood of requests into store round trips. `record` puts in an answer
 * learnt elsewhere (a store call that failed), reused in the same way.
 */
export class SharedProbe<T> {
  private cached: { readonly value: T; readonly until: number } | undefined;
  private inFlight: Promise<T> | undefined;

  constructor(
    private readonly probe: () => Promise<T>,
    private readonly reuseMs: (answer: T) => number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  get(): Promise<T> {
    if (this.cached && this.now() < this.cached.until) return Promise.resolve(this.cached.value);
    this.inFlight ??= this.probe()
      .then((value) => {
        this.record(value);
        return value;
      })
      .finally(() => {
        this.inFlight = undefined;
      });
    return this.inFlight;
  }

  record(value: T): void {
    this.cached = { value, until: this.now() + this.reuseMs(value) };
  }
}
