import { KeycardError, StoreUnavailableError } from './errors.js';

/**
 * Runs a store call with a deadline. A store that hangs (a dead TCP peer, a
 * full offline queue) becomes a fast StoreUnavailableError, so requests answer
 * 503 within the bound instead of piling up. Non-keycard errors from a store
 * are wrapped, keeping the original as `cause`.
 */
export function withDeadline<T>(operation: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new StoreUnavailableError(`session store did not answer ${what} within ${ms} ms`)), ms);
  });
  const guarded = operation.catch((error: unknown) => {
    if (error instanceof KeycardError) throw error;
    throw new StoreUnavailableError(`session store failed during ${what}`, { cause: error });
  });
  return Promise.race([guarded, deadline]).finally(() => clearTimeout(timer));
}
