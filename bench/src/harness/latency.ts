/**
 * Response times of one run, kept whole: autocannon's own histogram rounds to
 * whole milliseconds, too coarse when a Fastify p50 is about 1 ms.
 */
export class LatencyRecorder {
  private values = new Float64Array(1 << 16);
  private count = 0;

  record(milliseconds: number): void {
    if (this.count === this.values.length) {
      const grown = new Float64Array(this.values.length * 2);
      grown.set(this.values);
      this.values = grown;
    }
    this.values[this.count++] = milliseconds;
  }

  get size(): number {
    return this.count;
  }

  /** Nearest-rank percentiles (0 < p ≤ 100), in milliseconds; NaN when nothing was recorded. */
  percentiles(...ps: readonly number[]): number[] {
    const sorted = this.values.slice(0, this.count).sort();
    return ps.map((p) => (sorted.length === 0 ? Number.NaN : (sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)] as number)));
  }
}
