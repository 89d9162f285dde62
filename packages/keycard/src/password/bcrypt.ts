import { Worker } from 'node:worker_threads';
import type { BcryptRequest, BcryptResponse } from './bcrypt-worker.js';

interface Pending {
  readonly resolve: (ok: boolean) => void;
  readonly reject: (error: Error) => void;
}

/**
 * Verifies bcrypt hashes on one lazily started worker thread. bcryptjs'
 * own async API only yields every ~100 ms (measured: a cost-12 compare held the
 * loop for 101 ms slices), which is still a stall for every other request; on
 * the worker the main thread is not held at all. One worker is enough: bcrypt
 * verification happens once per legacy account (the hash is upgraded on that
 * sign-in), so requests queue rather than take more cores.
 */
export class BcryptVerifier {
  private worker: Worker | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;

  verify(hash: string, candidates: readonly string[]): Promise<boolean> {
    const worker = this.worker ?? this.start();
    const id = this.nextId++;
    return new Promise<boolean>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      // Held only while work is queued, so an idle verifier never keeps the process alive.
      if (this.pending.size === 1) worker.ref();
      const request: BcryptRequest = { id, hash, candidates };
      worker.postMessage(request);
    });
  }

  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    if (worker) await worker.terminate();
    this.fail(new Error('bcrypt verifier closed'));
  }

  private start(): Worker {
    const worker = new Worker(new URL('./bcrypt-worker.js', import.meta.url));
    worker.unref();
    worker.on('message', (response: BcryptResponse) => {
      const pending = this.pending.get(response.id);
      if (!pending) return;
      this.pending.delete(response.id);
      if (this.pending.size === 0) worker.unref();
      if (response.error === undefined) pending.resolve(response.ok);
      else pending.reject(new Error(`bcrypt verification failed: ${response.error}`));
    });
    const crashed = (error: Error): void => {
      // The next call starts a fresh worker; callers waiting on this one fail now rather than hang.
      if (this.worker === worker) this.worker = undefined;
      this.fail(error);
    };
    worker.on('error', crashed);
    worker.on('exit', (code) => crashed(new Error(`bcrypt worker exited with code ${code}`)));
    this.worker = worker;
    return worker;
  }

  private fail(error: Error): void {
    for (const pending of this.pending.values()) pending.reject(error);
    this.pending.clear();
  }
}
