import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { track, waitForExit } from './children.js';
import { nextMessage } from './ipc.js';
import type { FromLoadWorker, LoadRequest, LoadResult } from './load-protocol.js';

/** A load worker process; reused for the warm-up and the measured run of one variant. */
export class LoadGenerator {
  private constructor(private readonly child: ChildProcess) {}

  static async start(): Promise<LoadGenerator> {
    const child = track(
      fork(fileURLToPath(new URL('./load-worker.js', import.meta.url)), [], { execArgv: [], stdio: 'inherit' }),
    );
    await nextMessage<FromLoadWorker, 'ready'>(child, 'ready', 30_000, () => 'load worker');
    return new LoadGenerator(child);
  }

  async run(request: Omit<LoadRequest, 'type'>): Promise<LoadResult> {
    this.child.send({ type: 'run', ...request } satisfies LoadRequest);
    const timeoutMs = (request.duration + 30) * 1000;
    const reply = await nextMessage<FromLoadWorker, 'result'>(this.child, 'result', timeoutMs, () => 'load worker');
    return reply.result;
  }

  async stop(): Promise<void> {
    if (this.child.connected) this.child.disconnect();
    await waitForExit(this.child, 5_000);
  }
}
