/**
 * The server of the sign-in-load experiment: keycard's SessionModule on a
 * Redis store (bench/src/servers/keycard-stores.ts), a `POST /login` that
 * checks the password with keycard/password's argon2id PasswordHasher
 * (OWASP parameters, the wait deadline lifted: SIGN_IN_MAX_WAIT_MS) before `session.signIn`, and the authenticated
 * `GET /me`. It measures its own event-loop delay with
 * `perf_hooks.monitorEventLoopDelay` over windows the runner opens and closes
 * over IPC (sign-in-protocol.ts); `serve` from servers/control.ts answers
 * `cpu`/`stop` and sends `ready` as for the throughput variants.
 */
import 'reflect-metadata';
import { readFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Body, Controller, Get, HttpCode, Module, Post, UnauthorizedException } from '@nestjs/common';
import type { Principal, Session as KeycardSession, SessionStore } from 'keycard';
import { CurrentUser, Public, Session, SessionModule } from 'keycard/nest';
import { PasswordHasher } from 'keycard/password';
import { createApp, runServer, serve } from '../servers/control.js';
import { openStore } from '../servers/keycard-stores.js';
import { BENCH_SECRET, type BenchUser } from '../servers/user.js';
import {
  ELD_RESOLUTION_MS,
  MAX_CONCURRENT_ENV,
  SIGN_IN_MAX_WAIT_MS,
  SIGN_IN_PASSWORD,
  SIGN_IN_USERS,
  type FromSignInServer,
  type ToSignInServer,
} from './sign-in-protocol.js';

interface Account extends BenchUser {
  readonly hash: string;
}

const NS_PER_MS = 1e6;

function send(message: FromSignInServer): void {
  process.send?.(message);
}

/** Clock ticks per second of /proc's utime and stime (USER_HZ, 100 on Linux). */
const USER_HZ = 100;

/** CPU time of the main thread (whose tid is the pid) so far, ms; NaN without /proc. */
function mainThreadCpuMs(): number {
  try {
    const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / USER_HZ;
  } catch {
    return Number.NaN;
  }
}

function processCpuMs(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1000;
}

/** The event-loop delay windows the runner asks for. */
function watchEventLoop(): void {
  const histogram = monitorEventLoopDelay({ resolution: ELD_RESOLUTION_MS });
  const delay = (ns: number): number => Math.max(0, ns / NS_PER_MS - ELD_RESOLUTION_MS);
  let mainAtStart = 0;
  let processAtStart = 0;
  process.on('message', (message: ToSignInServer) => {
    if (message.type === 'eld-start') {
      histogram.disable();
      histogram.reset();
      histogram.enable();
      mainAtStart = mainThreadCpuMs();
      processAtStart = processCpuMs();
    } else if (message.type === 'eld-stop') {
      histogram.disable();
      const mainThreadMs = mainThreadCpuMs() - mainAtStart;
      const totalMs = processCpuMs() - processAtStart;
      send({
        type: 'eld',
        cpu: { mainThreadMs, otherThreadsMs: totalMs - mainThreadMs },
        delay: {
          samples: histogram.count,
          p50Ms: delay(histogram.percentile(50)),
          p99Ms: delay(histogram.percentile(99)),
          maxMs: delay(histogram.max),
        },
      });
    }
  });
}

function principalOf(account: Account): Principal {
  return { id: account.id, roles: account.roles, authVersion: 1, claims: { email: account.email, name: account.name } };
}

function signInModule(store: SessionStore, hasher: PasswordHasher, accounts: ReadonlyMap<string, Account>): object {
  @Controller()
  class SignInController {
    /** As the reference app signs in: verify (or the constant-time unknown-account path), then a new session id. */
    @Public()
    @Post('login')
    @HttpCode(200)
    async login(@Session() session: KeycardSession, @Body() body: { email?: unknown; password?: unknown }): Promise<{ user: BenchUser }> {
      const password = typeof body.password === 'string' ? body.password : '';
      const account = typeof body.email === 'string' ? accounts.get(body.email) : undefined;
      const verified = account ? await hasher.verify(account.hash, password) : await hasher.verifyUnknown(password);
      if (!account || !verified.ok) throw new UnauthorizedException();
      await session.signIn(principalOf(account));
      return { user: { id: account.id, email: account.email, name: account.name, roles: account.roles } };
    }

    /** The authenticated read: answered from the principal in the session. */
    @Get('me')
    me(@CurrentUser() principal: Principal): BenchUser {
      return { id: principal.id, email: String(principal.claims?.email), name: String(principal.claims?.name), roles: principal.roles };
    }
  }
  // csrf: false as in servers/keycard.ts: the runner's POST /login carries no token; GET /me is a safe method.
  @Module({ imports: [SessionModule.forRoot({ secrets: [BENCH_SECRET], store, csrf: false })], controllers: [SignInController] })
  class SignInLoadModule {}
  return SignInLoadModule;
}

runServer(async (config) => {
  const maxConcurrent = process.env[MAX_CONCURRENT_ENV];
  const hasher = new PasswordHasher({ maxWait: SIGN_IN_MAX_WAIT_MS, ...(maxConcurrent === undefined ? {} : { maxConcurrent: Number(maxConcurrent) }) });
  // One hash for every account: verification costs the same whatever the salt, and start-up stays short.
  const hash = await hasher.hash(SIGN_IN_PASSWORD);
  const accounts = new Map<string, Account>();
  for (let i = 0; i < SIGN_IN_USERS; i++) {
    const email = `user${i}@example.com`;
    accounts.set(email, { id: `u-${i}`, email, name: `User ${i}`, roles: ['user'], hash });
  }
  const opened = await openStore(config);
  const app = await createApp(signInModule(opened.store, hasher, accounts), config.platform);
  watchEventLoop();
  await serve(app, async () => {
    await opened.close();
    await hasher.close();
  });
});
