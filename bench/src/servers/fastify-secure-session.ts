/**
 * Variant 11: @fastify/secure-session, the seeds' Fastify session: the whole
 * session sealed (libsodium secretbox) in the cookie, no store. The nearest
 * stack to keycard's sealed-cookie sessions. Plugin defaults, except
 * `cookie.secure: false` (plain HTTP here) and the key given as a secret +
 * salt, as the seeds' example does.
 */
import 'reflect-metadata';
import fastifySecureSession from '@fastify/secure-session';
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

declare module '@fastify/secure-session' {
  interface SessionData {
    user: BenchUser;
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
class SecureSessionController {
  @Post('login')
  @HttpCode(200)
  login(@Req() request: FastifyRequest): { user: BenchUser } {
    request.session.regenerate();
    request.session.set('user', BENCH_USER);
    return { user: BENCH_USER };
  }

  @Get('me')
  @UseGuards(SessionUserGuard)
  me(@Req() request: FastifyRequest): BenchUser {
    return request.session.get('user') as BenchUser;
  }
}

@Module({ controllers: [SecureSessionController] })
class SecureSessionModule {}

runServer(async (config) => {
  const app = (await createApp(SecureSessionModule, config.platform)) as NestFastifyApplication;
  await app.register(fastifySecureSession, {
    secret: BENCH_SECRET,
    salt: 'mq9hDxBVDbspDR6n',
    cookie: { path: '/', httpOnly: true, secure: false },
  });
  await serve(app, async () => undefined);
});
