/**
 * Rough server-CPU cost of keycard per request, on both platforms: the app
 * runs in a child process, which reports its own CPU time around N
 * sequential requests. Not a benchmark (see bench/), a quick regression
 * check:  node packages/keycard/dist-test/test/support/measure-overhead.js [N]
 */
import 'reflect-metadata';
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Controller, Get, type ModuleMetadata } from '@nestjs/common';
import { startApp, type Platform } from './http.js';
import { sessionApp } from './session-app.js';

@Controller()
class BareController {
  @Get('me')
  me(): { user: { id: string } } {
    return { user: { id: 'alice' } };
  }
}

type Variant = 'bare' | 'anonymous' | 'authenticated';

async function serve(platform: Platform, variant: Variant): Promise<void> {
  const root: ModuleMetadata = variant === 'bare' ? { controllers: [BareController] } : sessionApp();
  const running = await startApp(platform, root);
  let cookie = '';
  if (variant === 'authenticated') {
    const client = running.client();
    await client.post('/login', { id: 'alice' });
    cookie = client.cookieHeader() ?? '';
  }
  process.send?.({ url: running.url, cookie });
  process.on('message', (message) => {
    if (message === 'cpu') process.send?.(process.cpuUsage());
    if (message === 'stop') void running.close().then(() => process.exit(0));
  });
}

interface Server {
  readonly variant: Variant;
  readonly url: string;
  readonly cookie: string;
  cpu(): Promise<NodeJS.CpuUsage>;
  stop(): Promise<void>;
}

async function spawn(platform: Platform, variant: Variant): Promise<Server> {
  const child = fork(fileURLToPath(import.meta.url), ['serve', platform, variant]);
  const next = (): Promise<unknown> => new Promise((resolve) => child.once('message', resolve));
  const { url, cookie } = (await next()) as { url: string; cookie: string };
  return {
    variant,
    url,
    cookie,
    cpu: async () => {
      child.send('cpu');
      return (await next()) as NodeJS.CpuUsage;
    },
    stop: async () => {
      child.send('stop');
      await new Promise((resolve) => child.once('exit', resolve));
    },
  };
}

async function hit(server: Server, count: number): Promise<void> {
  const path = server.variant === 'anonymous' ? '/public/ping' : '/me';
  const headers: Record<string, string> = server.cookie ? { cookie: server.cookie } : {};
  for (let i = 0; i < count; i++) {
    const response = await fetch(server.url + path, { headers });
    if (response.status !== 200) throw new Error(`${server.variant}: ${response.status}`);
    await response.arrayBuffer();
  }
}

/** Server CPU per request for each variant: the best of several interleaved rounds, so that other load on the machine counts least. */
async function measure(platform: Platform, n: number, rounds: number): Promise<Record<Variant, number>> {
  const servers = await Promise.all((['bare', 'anonymous', 'authenticated'] as const).map((v) => spawn(platform, v)));
  const best: Record<Variant, number> = { bare: Infinity, anonymous: Infinity, authenticated: Infinity };
  for (const server of servers) await hit(server, 500);
  for (let round = 0; round < rounds; round++) {
    for (const server of servers) {
      const before = await server.cpu();
      await hit(server, n);
      const after = await server.cpu();
      const perRequest = (after.user - before.user + after.system - before.system) / n;
      best[server.variant] = Math.min(best[server.variant], perRequest);
    }
  }
  await Promise.all(servers.map((server) => server.stop()));
  return best;
}

if (process.argv[2] === 'serve') {
  await serve(process.argv[3] as Platform, process.argv[4] as Variant);
} else {
  const n = Number(process.argv[2] ?? 2000);
  const rounds = Number(process.argv[3] ?? 5);
  for (const platform of ['express', 'fastify'] as const) {
    const { bare, anonymous, authenticated } = await measure(platform, n, rounds);
    console.log(
      `${platform}: bare ${bare.toFixed(1)} µs/req; keycard anonymous public route +${(anonymous - bare).toFixed(1)} µs, ` +
        `authenticated read +${(authenticated - bare).toFixed(1)} µs (server CPU, best of ${rounds} rounds of ${n})`,
    );
  }
}
