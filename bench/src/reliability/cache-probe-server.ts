/**
 * The server side shared by the race and coherence experiments' keycard
 * processes: `controller` behind SessionModule on the configured store,
 * counted by countFinds (and made incoherent for the negative control), and
 * answering the harness' cache probes over IPC.
 */
import { Module, type Type } from '@nestjs/common';
import { SessionManager, type SessionStore } from 'keycard';
import { SessionModule } from 'keycard/nest';
import { createApp, runServer, serve } from '../servers/control.js';
import { openStore } from '../servers/keycard-stores.js';
import { BENCH_SECRET } from '../servers/user.js';
import { answerCacheProbes, countFinds, INCOHERENT_ENV } from './cache-probe.js';

function keycardModule(store: SessionStore, controller: Type): object {
  @Module({ imports: [SessionModule.forRoot({ secrets: [BENCH_SECRET], store, csrf: false })], controllers: [controller] })
  class CacheProbedModule {}
  return CacheProbedModule;
}

export function runCacheProbedServer(controller: Type): void {
  runServer(async (config) => {
    const opened = await openStore(config);
    const counted = countFinds(opened.store, { incoherent: process.env[INCOHERENT_ENV] === '1' });
    const app = await createApp(keycardModule(counted.store, controller), config.platform);
    answerCacheProbes(app.get(SessionManager), counted);
    await serve(app, () => opened.close());
  });
}
