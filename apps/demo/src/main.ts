import 'reflect-metadata';
import { Logger, type INestApplication } from '@nestjs/common';
import { createApp } from './app/create-app.js';
import { ConfigError, loadConfig } from './config/config.js';

const logger = new Logger('keycard-demo');

async function main(): Promise<void> {
  const config = loadConfig(process.env);
  const { app, storeDescription, secretWarning, adminWarning } = await createApp(config, { logger: ['error', 'warn'] });
  if (secretWarning) logger.warn(secretWarning);
  if (adminWarning) logger.warn(adminWarning);
  stopOnSignals(app);
  await app.listen(config.port, config.host);
  const address = app.getHttpServer().address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const where = config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host;
  console.log(`${config.platform} · users in ${config.databaseUrl ? 'PostgreSQL' : `PGlite (${config.dataDir})`} · sessions in ${storeDescription}`);
  console.log(`keycard demo is running: open http://${where}:${port}/`);
}

/**
 * SIGINT/SIGTERM: stop accepting connections, let in-flight requests finish,
 * then close the session stores and the database (ResourcesLifecycle), and
 * exit 0. This is `app.enableShutdownHooks()` plus a clean exit code: Nest's
 * own hook re-raises the signal after closing, which looks like a crash to
 * process managers that read the exit status.
 */
function stopOnSignals(app: INestApplication): void {
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    console.log(`${signal}: finishing in-flight requests, then closing the stores and the database`);
    app.close().then(
      () => {
        console.log('keycard demo stopped');
        process.exit(0);
      },
      (error: unknown) => {
        console.error('keycard demo did not stop cleanly:', error);
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((error: unknown) => {
  if (error instanceof ConfigError) {
    console.error(`keycard demo cannot start: ${error.message}`);
  } else {
    console.error('keycard demo failed to start:', error);
  }
  process.exit(1);
});
