import { resolveOptions as resolveCoreOptions, type ResolvedOptions, type SessionOptions } from './core/options.js';
import { MemoryStore } from './memory/memory-store.js';

/**
 * The options with `store` defaulted to a bounded `MemoryStore` (one process
 * only) on the options' clock. Lives above the core, which cannot import a
 * store implementation; `SessionModule` applies it, and closes the store it
 * made on shutdown.
 */
export function withDefaultStore(options: SessionOptions): SessionOptions {
  // Sealed-cookie sessions have no store (the core refuses one next to `sealed`).
  if (options.sealed !== undefined) return options;
  return { ...options, store: options.store ?? new MemoryStore({ clock: options.clock }) };
}

/**
 * Applies every default (a bounded `MemoryStore` when `store` is absent) and
 * validates once, with messages that say what to change.
 */
export function resolveOptions(options: SessionOptions): ResolvedOptions {
  if (typeof options !== 'object' || options === null) return resolveCoreOptions(options);
  return resolveCoreOptions(withDefaultStore(options));
}
