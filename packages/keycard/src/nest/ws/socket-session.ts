import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import type { Principal } from '../../core/record.js';
import { KeycardError } from '../../core/errors.js';
import type { SocketSession } from '../../ws/registry.js';

/**
 * Where a socket's session lives: a symbol on the socket object itself, so
 * any code holding the client (gateway hooks, handlers, filters) can read it
 * without a lookup, and nothing clashes with an application's own fields.
 */
const SOCKET_SESSION = Symbol.for('keycard.socket-session');

interface Carrier {
  [SOCKET_SESSION]?: SocketSession;
}

/** A socket that did not come through `KeycardWsAdapter`: a wiring mistake. */
export class SocketNotAuthenticatedError extends KeycardError {
  constructor() {
    super(
      'KEYCARD_SOCKET_NOT_AUTHENTICATED',
      'keycard: this socket has no session. Serve the gateway with ' +
        '`app.useWebSocketAdapter(new KeycardWsAdapter(app))` before `app.listen()`.',
    );
  }
}

/** @internal Called by the adapter when the handshake is accepted. */
export function attachSocketSession(socket: object, session: SocketSession): void {
  (socket as Carrier)[SOCKET_SESSION] = session;
}

/** The session a socket was opened with, or undefined when keycard did not authenticate it. */
export function findSocketSession(socket: object): SocketSession | undefined {
  return (socket as Carrier)[SOCKET_SESSION];
}

/**
 * The session a socket was opened with: `handle`, `principal` (refreshed at
 * each re-check), `expiresAt`, and `ended` once its session is over. Throws
 * `SocketNotAuthenticatedError` for a socket keycard never saw.
 */
export function socketSession(socket: object): SocketSession {
  const session = findSocketSession(socket);
  if (session === undefined) throw new SocketNotAuthenticatedError();
  return session;
}

function clientOf(context: ExecutionContext): object {
  return context.switchToWs().getClient<object>();
}

/** In a gateway handler: the socket's signed-in `Principal` (every socket the adapter accepts has one). */
export const WsUser: () => ParameterDecorator = createParamDecorator(
  (_data: unknown, context: ExecutionContext): Principal => socketSession(clientOf(context)).principal,
);

/** In a gateway handler: the socket's `SocketSession`. */
export const WsSession: () => ParameterDecorator = createParamDecorator(
  (_data: unknown, context: ExecutionContext): SocketSession => socketSession(clientOf(context)),
);
