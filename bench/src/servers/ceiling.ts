/**
 * Variants 1 and 2: Nest with no session at all. `GET /me` answers a constant
 * user, so this is the most a Nest app on that platform can do here — the
 * ceiling every session stack is divided by.
 */
import 'reflect-metadata';
import { Controller, Get, HttpCode, Module, Post } from '@nestjs/common';
import { createApp, runServer, serve } from './control.js';
import { BENCH_USER, type BenchUser } from './user.js';

@Controller()
class MeController {
  @Post('login')
  @HttpCode(200)
  login(): { user: BenchUser } {
    return { user: BENCH_USER };
  }

  @Get('me')
  me(): BenchUser {
    return BENCH_USER;
  }
}

@Module({ controllers: [MeController] })
class CeilingModule {}

runServer(async (config) => {
  await serve(await createApp(CeilingModule, config.platform));
});
