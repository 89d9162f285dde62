import { Controller, Module, type INestApplication } from '@nestjs/common';
import { MessagePattern, Transport } from '@nestjs/microservices';
import { Public, SessionModule } from '../../src/nest/index.js';

@Controller()
export class MathController {
  @MessagePattern('sum') // no session over TCP: refused, KEYCARD_UNAUTHENTICATED
  sum(numbers: number[]): number {
    return numbers.reduce((a, b) => a + b, 0);
  }

  @Public() // answers any client that reaches the transport: secure the transport itself
  @MessagePattern('ping')
  ping(): string {
    return 'pong';
  }
}

@Module({ imports: [SessionModule.forRoot({ secrets: process.env['SESSION_SECRET'] ?? '' })], controllers: [MathController] })
export class AppModule {}

export async function connect(app: INestApplication, port: number): Promise<void> {
  // keycard guards these handlers with or without inheritAppConfig.
  app.connectMicroservice({ transport: Transport.TCP, options: { host: '127.0.0.1', port } });
  await app.startAllMicroservices();
}
