import { Module } from '@nestjs/common';
import { WhoamiGateway } from './whoami.gateway.js';

/** Everything behind /ws; the socket adapter itself is installed in createApp. */
@Module({ providers: [WhoamiGateway] })
export class WsModule {}
