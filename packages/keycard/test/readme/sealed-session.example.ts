import { Controller, Get, Module } from '@nestjs/common';
import { Public, Session, SessionModule } from '../../src/nest/index.js';
import type { Session as KeycardSession } from '../../src/index.js';

@Public()
@Controller()
export class VisitsController {
  @Get()
  findAll(@Session() session: KeycardSession) {
    const visits = session.get<number>('visits') ?? 0; // was: request.session.get('visits')
    session.set('visits', visits + 1); // was: request.session.set('visits', ...)
    return { visits: visits + 1 };
  }
}

@Module({
  // was: app.register(secureSession, { secret, salt }) — the whole session sealed in its cookie, no store
  imports: [SessionModule.forRoot({ secrets: [process.env.SESSION_SECRET!], sealed: {} })],
  controllers: [VisitsController],
})
export class AppModule {}
