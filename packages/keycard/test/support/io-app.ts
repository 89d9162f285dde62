import type { INestApplication, ModuleMetadata } from '@nestjs/common';
import { MessageBody, SubscribeMessage, WebSocketGateway } from '@nestjs/websockets';
import type { Principal } from '../../src/index.js';
import { CurrentUser, Public, Roles, Session, SessionModule, type SessionModuleOptions } from '../../src/nest/index.js';
import { KeycardIoAdapter, type KeycardIoAdapterOptions } from '../../src/nest/socket.io/index.js';
import type { SocketSession } from '../../src/ws/index.js';
import { Gates } from './gate.js';
import { SECRET, SessionTestController } from './session-app.js';

/** A socket.io gateway on the application's port: the same decorators as a controller. */
@WebSocketGateway()
export class ChatGateway {
  @SubscribeMessage('whoami')
  whoami(@CurrentUser() user: Principal): { id: string; roles: readonly string[] } {
    return { id: user.id, roles: user.roles };
  }

  @SubscribeMessage('session')
  session(@Session() session: SocketSession): { handle: string } {
    return { handle: session.handle };
  }

  @Roles('admin')
  @SubscribeMessage('admin')
  admin(@MessageBody() body: unknown): { ok: true; body: unknown } {
    return { ok: true, body };
  }

  /** Answers the length of what it got: the size-limit test sends strings just under and over the limit. */
  @SubscribeMessage('echo')
  echo(@MessageBody() body: string): number {
    return body.length;
  }

  @Public()
  @SubscribeMessage('ping')
  ping(): string {
    return 'pong';
  }
}

/** The HTTP session routes of `sessionApp` plus the socket.io gateway. */
export function ioApp(options: Partial<SessionModuleOptions> = {}): ModuleMetadata {
  return {
    imports: [SessionModule.forRoot({ secrets: SECRET, csrf: false, ...options })],
    controllers: [SessionTestController],
    providers: [{ provide: Gates, useValue: new Gates() }, ChatGateway],
  };
}

export function useKeycardIo(options: KeycardIoAdapterOptions = {}): (app: INestApplication) => void {
  return (app) => {
    app.useWebSocketAdapter(new KeycardIoAdapter(app, options));
  };
}
