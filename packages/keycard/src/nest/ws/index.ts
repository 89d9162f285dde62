// keycard/nest/ws: WebSocket gateways behind the session cookie, on @nestjs/platform-ws.
// A subpath of its own so that keycard/nest does not require ws or @nestjs/platform-ws.
export { KeycardWsAdapter } from './ws-adapter.js';
export type { KeycardWsAdapterOptions, GatewayServerOptions } from './ws-adapter.js';
export { socketSession, findSocketSession, WsUser, WsSession, SocketNotAuthenticatedError } from './socket-session.js';
export { typedJsonMessages } from './messages.js';
export type { WsFrame, RoutedMessage } from './messages.js';
// The framework-free pieces, re-exported as they are.
export * from '../../ws/index.js';
