// Framework-free WebSocket pieces: the handshake check and the registry that
// closes sockets when their session ends. keycard/nest/ws builds on them.
export { resolveOriginCheck } from './origin.js';
export type { OriginCheck } from './origin.js';
export { authenticateUpgrade, upgradeInfoOf } from './upgrade.js';
export type {
  UpgradeInfo,
  UpgradeRequestOptions,
  AuthenticatedSession,
  UpgradeDecision,
  UpgradeRefusalBody,
  UpgradeRefusalCode,
} from './upgrade.js';
export {
  SocketRegistry,
  WS_CLOSE_SESSION_ENDED,
  WS_CLOSE_TRY_AGAIN_LATER,
  WS_CLOSE_GOING_AWAY,
  WS_CLOSE_REASONS,
  closeReasonOf,
} from './registry.js';
export type { ClosableSocket, SocketSession, SocketRegistryOptions, SocketCloseReason } from './registry.js';
export {
  MessageRate,
  compileTrustProxy,
  forwardedFacts,
  resolveSocketLimits,
  WS_CLOSE_TOO_BIG,
  WS_CLOSE_POLICY,
} from './limits.js';
export type { SocketLimitOptions, ResolvedSocketLimits, TrustProxy, TrustFn } from './limits.js';
