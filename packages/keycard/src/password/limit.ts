import { OverloadedError } from '../core/errors.js';

export interface QueueBounds {
  /** Tasks allowed to wait for a slot; a newcomer past it is refused at once. Default: unbounded. */
  readonly maxQueued?: number;
  /** Milliseconds a task may wait for a slot before it is refused (it never runs then). Default: unbounded. */
  readonly maxWaitMs?: number;
  /** Names the work in `OverloadedError` messages. Default 'the task queue'. */
  readonly work?: string;
}

interface Waiter {
  readonly start: () => void;
  readonly timer: NodeJS.Timeout | undefined;
}

/**
 * At most `size` tasks at once; the rest wait in arrival order, at most
 * `maxQueued` of them and for at most `maxWaitMs` each. A task refused by
 * either bound rejects with `OverloadedError` and never runs: under a flood
 * the queue stays short, so what is admitted is served in bounded time
 * instead of everyone waiting behind everyone (argon2 uses it; see
 * PasswordHasher).
 */
export class ConcurrencyLimit {
  private active = 0;
  private readonly waiting: Waiter[] = [];
  private readonly maxQueued: number;
  private readonly maxWaitMs: number;
  private readonly work: string;

  constructor(
    readonly size: number,
    bounds: QueueBounds = {},
  ) {
    this.maxQueued = bounds.maxQueued ?? Infinity;
    this.maxWaitMs = bounds.maxWaitMs ?? Infinity;
    this.work = bounds.work ?? 'the task queue';
  }

  /** Tasks running now (for tests and metrics). */
  get running(): number {
    return this.active;
  }

  /** Tasks waiting for a slot. */
  get queued(): number {
    return this.waiting.length;
  }

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.active >= this.size) await this.waitForSlot();
    else this.active++;
    try {
      return await task();
    } finally {
      // The slot passes straight to the next waiter, so `active` never dips and a newcomer cannot jump the queue.
      const next = this.waiting.shift();
      if (next) {
        if (next.timer) clearTimeout(next.timer);
        next.start();
      } else {
        this.active--;
      }
    }
  }

  private waitForSlot(): Promise<void> {
    if (this.waiting.length >= this.maxQueued) return Promise.reject(this.overloaded());
    return new Promise<void>((resolve, reject) => {
      const timer =
        this.maxWaitMs === Infinity
          ? undefined
          : setTimeout(() => {
              const index = this.waiting.indexOf(waiter);
              if (index >= 0) this.waiting.splice(index, 1);
              reject(this.overloaded());
            }, this.maxWaitMs);
      const waiter: Waiter = { start: resolve, timer };
      this.waiting.push(waiter);
    });
  }

  private overloaded(): OverloadedError {
    // What a client should wait: about one full queue's worth of waiting, at least a second.
    return new OverloadedError(this.work, this.maxWaitMs === Infinity ? 1 : this.maxWaitMs / 1000);
  }
}
