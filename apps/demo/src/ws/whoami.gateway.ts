import { SubscribeMessage, WebSocketGateway } from '@nestjs/websockets';
import type { Principal } from 'keycard';
import { WsUser } from 'keycard/nest/ws';
import { userOfPrincipal, type PublicUser } from '../users/user.js';

/**
 * The plain WebSocket endpoint at /ws (RFC 6455 through `ws`). keycard's
 * adapter (see create-app.ts) lets only a valid session cookie through the
 * handshake (401 otherwise) and closes the socket when that session is
 * signed out or revoked on any instance.
 */
@WebSocketGateway({ path: '/ws' })
export class WhoamiGateway {
  @SubscribeMessage('whoami')
  whoami(@WsUser() principal: Principal): { type: 'whoami'; user: PublicUser } {
    return { type: 'whoami', user: userOfPrincipal(principal) };
  }
}
