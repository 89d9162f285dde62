import { Module, type INestApplication } from '@nestjs/common';
import { MessageBody, SubscribeMessage, WebSocketGateway } from '@nestjs/websockets';
import type { Principal } from '../../src/index.js';
import { CurrentUser, Roles, SessionModule } from '../../src/nest/index.js';
import { KeycardIoAdapter } from '../../src/nest/socket.io/index.js';

@WebSocketGateway()
export class ChatGateway {
  @SubscribeMessage('whoami') // every socket is signed in
  whoami(@CurrentUser() user: Principal): string {
    return user.id;
  }

  @Roles('admin') // others get an 'exception' event, code KEYCARD_FORBIDDEN_ROLE
  @SubscribeMessage('announce')
  announce(@MessageBody() text: string): string {
    return text;
  }
}

@Module({ imports: [SessionModule.forRoot({ secrets: process.env['SESSION_SECRET'] ?? '' })], providers: [ChatGateway] })
export class AppModule {}

// main.ts, before listen():
export function useSocketIo(app: INestApplication): void {
  app.useWebSocketAdapter(new KeycardIoAdapter(app));
}
