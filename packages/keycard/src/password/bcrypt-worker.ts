// Worker entry: bcryptjs is pure JavaScript and would hold the main thread for
// the whole cost factor (about 100 ms at cost 10, 400 ms at cost 12 here), so
// legacy bcrypt verification runs on this thread instead.
import { parentPort } from 'node:worker_threads';
import bcrypt from 'bcryptjs';

export interface BcryptRequest {
  readonly id: number;
  readonly hash: string;
  readonly candidates: readonly string[];
}

export interface BcryptResponse {
  readonly id: number;
  /** Whether any candidate matched (tried in order; a failure tries them all). */
  readonly ok: boolean;
  readonly error?: string;
}

parentPort?.on('message', (request: BcryptRequest) => {
  let ok = false;
  let error: string | undefined;
  try {
    ok = request.candidates.some((candidate) => bcrypt.compareSync(candidate, request.hash));
  } catch (cause) {
    error = cause instanceof Error ? cause.message : String(cause);
  }
  const response: BcryptResponse = error === undefined ? { id: request.id, ok } : { id: request.id, ok: false, error };
  parentPort?.postMessage(response);
});
