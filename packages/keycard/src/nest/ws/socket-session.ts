import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import type { Principal } from '../../core/record.js';
import { KeycardError } from '../../core/errors.js';
import type { SocketSession } from '../../ws/registry.js';
import { findSocketSession } from '../context.js';

export { attachSocketSession, findSocketSession } from '../context.js';

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
