/**
 * Variant 3's side of the race harness: express-session on connect-redis with
 * the seed tutorials' options (resave false, saveUninitialized false), the
 * same four routes as keycard-server.ts.
 */
import 'reflect-metadata';
import { Controller, Get, HttpCode, Module, Post, Query, Req, UnauthorizedException } from '@nestjs/common';
import type { Request } from 'express';
import { createApp, runServer, serve } from '../../servers/control.js';
import { BENCH_USER } from '../../servers/user.js';
import { hold } from './gate.js';
import { openConnectRedis, tutorialExpressSession } from '../../servers/connect-redis.js';

type RaceSession = Request['session'] & Record<string, unknown>;

@Controller()
class RaceController {
  @Post('login')
  @HttpCode(200)
  login(@Req() request: Request, @Query('user') user: string): { ok: true } {
    (request.session as RaceSession).user = { ...BENCH_USER, id: user };
    return { ok: true };
  }

  @Post('write')
  @HttpCode(200)
  async write(@Req() request: Request, @Query('key') key: string, @Query('hold') id: string): Promise<{ ok: true }> {
    if ((request.session as RaceSession).user === undefined) throw new UnauthorizedException();
    await hold(id);
    (request.session as RaceSession)[key] = true;
    return { ok: true };
  }

  @Post('logout')
  @HttpCode(204)
  async logout(@Req() request: Request): Promise<void> {
    await new Promise<void>((resolve, reject) => request.session.destroy((error: unknown) => (error ? reject(error) : resolve())));
  }

  @Get('state')
  state(@Req() request: Request): { keys: string[] } {
    const data = request.session as RaceSession;
    if (data.user === undefined) throw new UnauthorizedException();
    return { keys: Object.keys(data).filter((key) => key !== 'cookie' && key !== 'user') };
  }
}

@Module({ controllers: [RaceController] })
class ExpressSessionRaceModule {}

runServer(async (config) => {
  const redis = await openConnectRedis(config, `${config.namespace}:`, 'the express-session race server needs redisUrl');
  const app = await createApp(ExpressSessionRaceModule, 'express');
  app.use(tutorialExpressSession(redis.store));
  await serve(app, () => redis.close());
});
