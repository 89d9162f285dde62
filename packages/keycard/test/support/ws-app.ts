import { Injectable, type INestApplication, type ModuleMetadata } from '@nestjs/common';
import { SubscribeMessage, WebSocketGateway, type OnGatewayConnection } from '@nestjs/websockets';
import type { WebSocket } from 'ws';
import type { Principal } from '../../src/index.js';
import { SessionModule, type SessionModuleOptions } from '../../src/nest/index.js';
import {
  KeycardWsAdapter,
  WsSession,
  WsUser,
  socketSession,
  typedJsonMessages,
  type KeycardWsAdapterOptions,
  type SocketSession,
} from '../../src/nest/ws/index.js';
import { Gates } from './gate.js';
import { SECRET, SessionTestController } from './session-app.js';

/** Handles of the sockets `handleConnection` saw, in order: proves the session is readable there. */
@Injectable()
export class ConnectionLog {
  readonly handles: string[] = [];
  /** Messages the whoami handler ran for: a handler must not run once the socket's session has ended. */
  whoamis = 0;
}

/**
 * The reference app's real-time contract: `{"type":"whoami"}` answers
 * `{"type":"whoami","user":{...}}`. `session` is for the tests (the socket's
 * handle, to revoke it by handle).
 */
@WebSocketGateway({ path: '/ws' })
export class WhoamiGateway implements OnGatewayConnection {
  constructor(private readonly log: ConnectionLog) {}

  handleConnection(client: WebSocket): void {
    this.log.handles.push(socketSession(client).handle);
  }

  @SubscribeMessage('whoami')
  whoami(@WsUser() user: Principal): { type: 'whoami'; user: Principal } {
    this.log.whoamis++;
    return { type: 'whoami', user };
  }

  @SubscribeMessage('session')
  session(@WsSession() session: SocketSession): { type: 'session'; handle: string; expiresAt: number } {
    return { type: 'session', handle: session.handle, expiresAt: session.expiresAt };
  }
}

/** A test app: the HTTP session routes of `sessionApp` plus the `/ws` gateway. */
export function wsApp(options: Partial<SessionModuleOptions> = {}): ModuleMetadata {
  return {
    imports: [SessionModule.forRoot({ secrets: SECRET, csrf: false, ...options })],
    controllers: [SessionTestController],
    providers: [{ provide: Gates, useValue: new Gates() }, ConnectionLog, WhoamiGateway],
  };
}

/** `startApp`'s `configure`: mounts the keycard adapter with the reference app's message format. */
export function useKeycardWs(options: KeycardWsAdapterOptions = {}): (app: INestApplication) => void {
  return (app) => {
    app.useWebSocketAdapter(new KeycardWsAdapter(app, { messageParser: typedJsonMessages, ...options }));
  };
}
