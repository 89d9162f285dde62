/**
 * Variants 5 and 5b: @fastify/cookie + @fastify/session with connect-redis as
 * the store (it implements the callback get/set/destroy the plugin calls).
 * Plugin defaults, except `cookie.secure: false`, without which the plugin
 * never sets its cookie over the plain HTTP of this bench; 5b adds
 * `rolling: false`.
 */
import 'reflect-metadata';
import fastifyCookie from '@fastify/cookie';
import fastifySession from '@fastify/session';
import {
  Controller,
  Get,
  HttpCode,
  Injectable,
  Module,
  Post,
  Req,
  UnauthorizedException,
  UseGuards,
  type CanActivate,
  type ExecutionContext,
} from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { FastifyRequest } from 'fastify';
import { createApp, runServer, serve } from './control.js';
import { BENCH_SECRET, BENCH_USER, type BenchUser } from './user.js';
import { openConnectRedis } from './connect-redis.js';

declare module 'fastify' {
  interface Session {
    user?: BenchUser;
  }
}

@Injectable()
class SessionUserGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const request = context.switchToHttp().getRequest<FastifyRequest>();
    if (request.session.get('user') === undefined) throw new UnauthorizedException();
    return true;
  }
}

@Controller()
class SessionController {
  @Post('login')
  @HttpCode(200)
  login(@Req() request: FastifyRequest): { user: BenchUser } {
    request.session.set('user', BENCH_USER);
    return { user: BENCH_USER };
  }

  @Get('me')
  @UseGuards(SessionUserGuard)
  me(@Req() request: FastifyRequest): BenchUser {
    return request.session.get('user') as BenchUser;
  }
}

@Module({ controllers: [SessionController] })
class FastifySessionModule {}

runServer(async (config) => {
  const redis = await openConnectRedis(config, config.namespace, 'the @fastify/session variants need redisUrl');
  const app = (await createApp(FastifySessionModule, 'fastify')) as NestFastifyApplication;
  await app.register(fastifyCookie);
  await app.register(fastifySession, {
    secret: BENCH_SECRET,
    store: redis.store,
    cookie: { secure: false },
    ...(config.rolling === undefined ? {} : { rolling: config.rolling }),
  });
  await serve(app, () => redis.close());
});
