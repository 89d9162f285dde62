/**
 * Variants 3 and 4: the stack the seeds teach. express-session on a
 * connect-redis store (node-redis client), `resave: false`,
 * `saveUninitialized: false`, the cookie options of the seed tutorials; with
 * `passport` set, passport.session() on top, serializing the user by id and
 * deserializing from an in-process Map (no database query, the cheapest
 * deserializeUser there is).
 */
import 'reflect-metadata';
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
import type { Request } from 'express';
import passport from 'passport';
import { createApp, runServer, serve } from './control.js';
import { BENCH_USER, type BenchUser } from './user.js';
import { openConnectRedis, tutorialExpressSession } from './connect-redis.js';

declare module 'express-session' {
  interface SessionData {
    user: BenchUser;
  }
}

const users = new Map<string, BenchUser>([[BENCH_USER.id, BENCH_USER]]);

/** The guard a Nest tutorial puts on session routes; 401 like the other variants. */
@Injectable()
class SessionUserGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const request = context.switchToHttp().getRequest<Request>();
    if (request.session.user === undefined) throw new UnauthorizedException();
    return true;
  }
}

@Injectable()
class PassportGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    if (!context.switchToHttp().getRequest<Request>().isAuthenticated()) throw new UnauthorizedException();
    return true;
  }
}

@Controller()
class SessionController {
  @Post('login')
  @HttpCode(200)
  login(@Req() request: Request): { user: BenchUser } {
    request.session.user = BENCH_USER;
    return { user: BENCH_USER };
  }

  @Get('me')
  @UseGuards(SessionUserGuard)
  me(@Req() request: Request): BenchUser {
    return request.session.user as BenchUser;
  }
}

@Controller()
class PassportController {
  @Post('login')
  @HttpCode(200)
  async login(@Req() request: Request): Promise<{ user: BenchUser }> {
    // passport 0.7's req.login regenerates the session id and saves it.
    await new Promise<void>((resolve, reject) => {
      request.login(BENCH_USER, (error: unknown) => (error ? reject(error) : resolve()));
    });
    return { user: BENCH_USER };
  }

  @Get('me')
  @UseGuards(PassportGuard)
  me(@Req() request: Request): BenchUser {
    return request.user as BenchUser;
  }
}

@Module({ controllers: [SessionController] })
class SessionModule {}

@Module({ controllers: [PassportController] })
class PassportModule {}

runServer(async (config) => {
  const redis = await openConnectRedis(config, config.namespace, 'the express-session variants need redisUrl');
  const app = await createApp(config.passport === true ? PassportModule : SessionModule, 'express');
  app.use(tutorialExpressSession(redis.store));
  if (config.passport === true) {
    passport.serializeUser((user, done) => done(null, (user as BenchUser).id));
    passport.deserializeUser((id, done) => done(null, users.get(id as string) ?? false));
    app.use(passport.initialize());
    app.use(passport.session());
  }
  await serve(app, () => redis.close());
});
