// keycard/nest/ws: WebSocket gateways behind the session cookie, on @nestjs/platform-ws.
// A subpath of its own so that keycard/nest does not require ws or @nestjs/platform-ws.
export { KeycardWsAdapter } from './ws-adapter.js';
export type { KeycardWsAdapterOptions, GatewayServerOptions } from './ws-adapter.js';
export { socketSession, findSocketSession, WsUser, WsSession, SocketNotAuthenticatedError } from './socket-session.js';
export { typedJsonMessages } from './messages.js';
export type { WsFrame, RoutedMessage } from './messages.js';
export {
  SocketRegistry,
  WS_CLOSE_SESSION_ENDED,
  WS_CLOSE_TRY_AGAIN_LATER,
  WS_CLOSE_GOING_AWAY,
  WS_CLOSE_REASONS,
  resolveOriginCheck,
  authenticateUpgrade,
  upgradeInfoOf,
} from '../../ws/index.js';
export type {
  ClosableSocket,
  SocketSession,
  SocketRegistryOptions,
  OriginCheck,
  UpgradeInfo,
  UpgradeRequestOptions,
  AuthenticatedSession,
  UpgradeDecision,
  UpgradeRefusalBody,
  UpgradeRefusalCode,
} from '../../ws/index.js';
