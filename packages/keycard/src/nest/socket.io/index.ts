// keycard/nest/socket.io: socket.io gateways behind the session, on @nestjs/platform-socket.io.
// A subpath of its own so that keycard/nest does not require socket.io.
export { KeycardIoAdapter, IO_CLOSE_EVENT } from './io-adapter.js';
export type { KeycardIoAdapterOptions, IoCloseNotice } from './io-adapter.js';
