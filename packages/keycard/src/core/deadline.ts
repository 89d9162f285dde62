import { StoreUnavailableError } from './errors.js';
import { storeFailure } from './store-support.js';

/** How often the shared sweeper looks for calls past their deadline; deadlines fire up to this late. */
const TICK_MS = 20;

interface Pending {
  readonly expiresAt: number;
  readonly expire: () => void;
}

/**
 * Store calls waiting on a deadline. One shared interval checks them
 * instead of a timer per call: arming and clearing a Node timer on every
 * authenticated request was a measurable share of keycard's CPU per read.
 */
const pending = new Set<Pending>();
let sweeper: NodeJS.Timeout | null = null;

function sweep(): void {
  const now = performance.now();
  for (const call of pending) {
    if (call.expiresAt <= now) {
      pending.delete(call);
      call.expire();
    }
  }
  if (pending.size === 0 && sweeper !== null) {
    clearInterval(sweeper);
    sweeper = null;
  }
}

function track(call: Pending): void {
  pending.add(call);
  if (sweeper === null) {
    // Not unref'd: a call awaiting its deadline is work in flight, like the timer it replaces;
    // the interval stops as soon as nothing is pending.
    sweeper = setInterval(sweep, TICK_MS);
  }
}

/**
 * Runs a store call with a deadline. A store that hangs (a dead TCP peer, a
 * full offline queue) becomes a fast StoreUnavailableError, so requests answer
 * 503 within the bound (plus at most one sweeper tick) instead of piling up.
 * Non-keycard errors from a store are wrapped, keeping the original as `cause`.
 * `subject` names the store in the messages. `onUnavailable` runs when the
 * call rejects with a StoreUnavailableError (a timeout or a failure), for
 * outage events; it costs nothing on the path that succeeds.
 */
export function withDeadline<T>(
  operation: Promise<T>,
  ms: number,
  what: string,
  subject = 'session store',
  onUnavailable?: () => void,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const fail = (error: unknown): void => {
      if (onUnavailable !== undefined && error instanceof StoreUnavailableError) onUnavailable();
      reject(error);
    };
    const call: Pending = {
      expiresAt: performance.now() + ms,
      expire: () => fail(new StoreUnavailableError(`${subject} did not answer ${what} within ${ms} ms`)),
    };
    track(call);
    operation.then(
      (value) => {
        pending.delete(call);
        resolve(value);
      },
      (error: unknown) => {
        pending.delete(call);
        fail(storeFailure(error, `${subject} failed during ${what}`));
      },
    );
  });
}
