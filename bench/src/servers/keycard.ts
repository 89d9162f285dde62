/**
 * Variants 6 to 9c (7c with the cache off), 12 and 12b: keycard's SessionModule with its defaults (global guard,
 * touch at most every 180 s), on the platform and store the runner asks for.
 */
import 'reflect-metadata';
import { Controller, Get, HttpCode, Module, Post } from '@nestjs/common';
import type { Principal, Session as KeycardSession } from 'keycard';
import { CurrentUser, Public, Session, SessionModule, type SessionModuleOptions } from 'keycard/nest';
import { createApp, runServer, serve } from './control.js';
import { openSessions } from './keycard-stores.js';
import { BENCH_SECRET, BENCH_USER, type BenchUser } from './user.js';

@Controller()
class MeController {
  @Public()
  @Post('login')
  @HttpCode(200)
  async login(@Session() session: KeycardSession): Promise<{ user: BenchUser }> {
    await session.signIn({
      id: BENCH_USER.id,
      roles: BENCH_USER.roles,
      authVersion: 1,
      claims: { email: BENCH_USER.email, name: BENCH_USER.name },
    });
    return { user: BENCH_USER };
  }

  /** Answered from the principal the session carries: no user lookup, as keycard intends. */
  @Get('me')
  me(@CurrentUser() principal: Principal): BenchUser {
    return {
      id: principal.id,
      email: String(principal.claims?.email),
      name: String(principal.claims?.name),
      roles: principal.roles,
    };
  }
}

/** The root module, built once the store is open (forRoot takes the instance): a store, or sealed cookies. */
function keycardModule(sessions: Pick<SessionModuleOptions, 'store' | 'sealed' | 'cache'>): object {
  // csrf: false only because the runner's setup POST /login sends no token; the measured GET
  // /me is a safe method, which the CSRF guard lets through without a check. Every session is the
  // one bench user's: the 1 000-session variants sign it in 1 000 times, which the default cap of 50
  // sessions per user would turn into 950 signed-out cookies (@fastify/session beside it has no cap).
  const cap = sessions.sealed === undefined ? { maxSessionsPerUser: Infinity } : {};
  @Module({ imports: [SessionModule.forRoot({ secrets: [BENCH_SECRET], ...sessions, ...cap, csrf: false })], controllers: [MeController] })
  class KeycardBenchModule {}
  return KeycardBenchModule;
}

runServer(async (config) => {
  const opened = await openSessions(config);
  const cache = config.cache === false ? { cache: false as const } : {};
  const app = await createApp(keycardModule({ ...opened.options, ...cache }), config.platform);
  await serve(app, () => opened.close());
});
