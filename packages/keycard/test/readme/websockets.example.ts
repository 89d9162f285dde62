import type { INestApplication } from '@nestjs/common';

declare const app: INestApplication;

// #region readme
import { SubscribeMessage, WebSocketGateway } from '@nestjs/websockets';
import type { Principal } from '../../src/index.js';
import { KeycardWsAdapter, typedJsonMessages, WsUser } from '../../src/nest/ws/index.js';

@WebSocketGateway({ path: '/ws' })
export class WhoamiGateway {
  @SubscribeMessage('whoami') // {"type":"whoami"} with typedJsonMessages
  whoami(@WsUser() user: Principal) { return { type: 'whoami', user }; }
}

// main.ts, before listen():
app.useWebSocketAdapter(new KeycardWsAdapter(app, { messageParser: typedJsonMessages }));
// #endregion readme
