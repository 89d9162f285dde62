export { runCli, sessionsCommand, revokeCommand, describeSession, USAGE, EXIT } from './run.js';
export type { CliIo } from './run.js';
export { openStoreFromUrl } from './open-store.js';
export type { OpenedStore, StoreUrlOptions } from './open-store.js';
