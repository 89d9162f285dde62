/**
 * Variants 10 and 10b: the reference app itself (apps/demo, built), as
 * `npm start` runs it on a fresh machine: no DATABASE_URL and no REDIS_URL,
 * so users and sessions live in an embedded PGlite database on disk under a
 * fresh DATA_DIR. Loaded from the demo's build in this process, so the
 * runner reads its CPU over IPC like every other variant's.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { INestApplication } from '@nestjs/common';
import { runServer, serve } from './control.js';

/** The two functions of the demo's build this server uses (the bench does not compile against the demo's sources). */
interface DemoBuild {
  loadConfig(env: NodeJS.ProcessEnv): unknown;
  createApp(config: unknown, options: { logger: ('error' | 'warn')[] }): Promise<{ app: INestApplication }>;
}

const DEMO_DIST = new URL('../../../../apps/demo/dist/src/', import.meta.url);

async function loadDemo(): Promise<DemoBuild> {
  const [config, app] = await Promise.all([
    import(new URL('config/config.js', DEMO_DIST).href) as Promise<Pick<DemoBuild, 'loadConfig'>>,
    import(new URL('app/create-app.js', DEMO_DIST).href) as Promise<Pick<DemoBuild, 'createApp'>>,
  ]);
  return { loadConfig: config.loadConfig, createApp: app.createApp };
}

runServer(async (config) => {
  const demo = await loadDemo();
  const dataDir = await mkdtemp(join(tmpdir(), 'keycard-bench-demo-'));
  // Only what a fresh `npm start` has: the runner's own DATABASE_URL or REDIS_URL must not leak in.
  const appConfig = demo.loadConfig({ DATA_DIR: dataDir, PLATFORM: config.platform, PORT: '0', HOST: '127.0.0.1' });
  // 'error' only: the generated-secret warning of a development start is expected here.
  const { app } = await demo.createApp(appConfig, { logger: ['error'] });
  await serve(app, () => rm(dataDir, { recursive: true, force: true }));
});
