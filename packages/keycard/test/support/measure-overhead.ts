/**
 * Rough server-CPU cost of keycard per request, on both platforms: the app
 * runs in a child process, which reports its own CPU time around N
 * sequential requests. Not a benchmark (see bench/), a quick regression
 * check:  node packages/keycard/dist/test/support/measure-overhead.js [N]
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

async function measure(platform: Platform, variant: Variant, n: number): Promise<number> {
  const child = fork(fileURLToPath(import.meta.url), ['serve', platform, variant]);
  const next = (): Promise<unknown> => new Promise((resolve) => child.once('message', resolve));
  const { url, cookie } = (await next()) as { url: string; cookie: string };
  const path = variant === 'anonymous' ? '/public/ping' : '/me';
  const headers: Record<string, string> = cookie ? { cookie } : {};
  const run = async (count: number): Promise<void> => {
    for (let i = 0; i < count; i++) {
      const response = await fetch(url + path, { headers });
      if (response.status !== 200) throw new Error(`${platform} ${variant}: ${response.status}`);
      await response.arrayBuffer();
    }
  };
  await run(Math.max(500, n / 4));
  child.send('cpu');
  const before = (await next()) as NodeJS.CpuUsage;
  await run(n);
  child.send('cpu');
  const after = (await next()) as NodeJS.CpuUsage;
  child.send('stop');
  await new Promise((resolve) => child.once('exit', resolve));
  return (after.user - before.user + after.system - before.system) / n;
}

if (process.argv[2] === 'serve') {
  await serve(process.argv[3] as Platform, process.argv[4] as Variant);
} else {
  const n = Number(process.argv[2] ?? 2000);
  for (const platform of ['express', 'fastify'] as const) {
    const bare = await measure(platform, 'bare', n);
    const anonymous = await measure(platform, 'anonymous', n);
    const authenticated = await measure(platform, 'authenticated', n);
    console.log(
      `${platform}: bare ${bare.toFixed(1)} µs/req, anonymous public +${(anonymous - bare).toFixed(1)} µs, ` +
        `authenticated read +${(authenticated - bare).toFixed(1)} µs (server CPU, ${n} sequential requests)`,
    );
  }
}
