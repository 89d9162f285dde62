import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { createApp } from './app/create-app.js';
import { ConfigError, loadConfig } from './config/config.js';

const logger = new Logger('keycard-demo');

async function main(): Promise<void> {
  const config = loadConfig(process.env);
  const { app, storeDescription, secretWarning } = await createApp(config, { logger: ['error', 'warn'] });
  if (secretWarning) logger.warn(secretWarning);
  // SIGINT/SIGTERM: stop accepting, let in-flight requests finish, then close the stores and the database.
  app.enableShutdownHooks();
  await app.listen(config.port, config.host);
  const address = app.getHttpServer().address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const where = config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host;
  console.log(`${config.platform} · users in ${config.databaseUrl ? 'PostgreSQL' : `PGlite (${config.dataDir})`} · sessions in ${storeDescription}`);
  console.log(`keycard demo is running: open http://${where}:${port}/`);
}

main().catch((error: unknown) => {
  if (error instanceof ConfigError) {
    console.error(`keycard demo cannot start: ${error.message}`);
  } else {
    console.error('keycard demo failed to start:', error);
  }
  process.exit(1);
});
