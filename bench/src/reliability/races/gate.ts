/**
 * The server side of the race harness' gate: a request handler calls `hold`
 * after its session has been loaded and waits there until the harness, over
 * IPC, releases it. The interleaving is decided by the harness, not by luck
 * or sleeps, so every trial runs the race it claims to run.
 */

export type GateToServer = { readonly type: 'release'; readonly id: string };
export type GateFromServer = { readonly type: 'held'; readonly id: string };

const waiting = new Map<string, () => void>();

process.on('message', (message: Partial<GateToServer>) => {
  if (message.type !== 'release' || typeof message.id !== 'string') return;
  waiting.get(message.id)?.();
  waiting.delete(message.id);
});

/** Tells the harness this request holds a loaded session, and waits for its release. */
export function hold(id: string): Promise<void> {
  return new Promise((resolve) => {
    waiting.set(id, resolve);
    const held: GateFromServer = { type: 'held', id };
    process.send?.(held);
  });
}
