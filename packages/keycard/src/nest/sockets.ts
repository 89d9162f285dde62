import { Logger, type INestApplicationContext } from '@nestjs/common';
import { InvalidOptionsError } from '../core/errors.js';
import { SessionManager } from '../core/manager.js';
import { SocketRegistry, type SocketRegistryOptions } from '../ws/registry.js';

/**
 * The application's one `SocketRegistry`, provided by `SessionModule`
 * (option `sockets`): every socket transport (`KeycardWsAdapter`,
 * `KeycardIoAdapter`, GraphQL subscriptions) tracks its sockets there, so an
 * application subscribes to the revocation channel once, `size` counts every
 * signed-in socket, and `recheck()` after an outage covers them all.
 */
export function createSocketRegistry(manager: SessionManager, options: SocketRegistryOptions | undefined): SocketRegistry {
  if (options !== undefined && (typeof options !== 'object' || options === null)) {
    throw new InvalidOptionsError('keycard: sockets must be an object ({ revalidateInterval, closeGrace, onError })');
  }
  const logger = new Logger('keycard');
  return new SocketRegistry(manager, {
    revalidateInterval: options?.revalidateInterval,
    closeGrace: options?.closeGrace,
    onError: options?.onError ?? ((error: unknown) => logger.warn(`socket session watch: ${error instanceof Error ? error.message : String(error)}`)),
  }) as SocketRegistry;
}

/** What a socket adapter needs from the application: the session manager and the shared registry. */
export interface SocketBackend {
  readonly manager: SessionManager;
  readonly registry: SocketRegistry;
}

const REGISTRY_OPTIONS = ['revalidateInterval', 'closeGrace', 'onError'] as const;

/**
 * The manager and registry of `app`, for `adapter`. Registry options given to
 * an adapter are refused: they are the application's (one registry), so they
 * go to SessionModule.
 */
export function socketBackendOf(app: INestApplicationContext, adapter: string, options: object): SocketBackend {
  for (const name of REGISTRY_OPTIONS) {
    if (name in options) {
      throw new InvalidOptionsError(
        `keycard: ${adapter} option ${name} belongs to SessionModule.forRoot({ sockets: { ${name} } }): one registry watches every socket of the application`,
      );
    }
  }
  try {
    return { manager: app.get(SessionManager, { strict: false }), registry: app.get(SocketRegistry, { strict: false }) };
  } catch {
    // Nest's own message names a token; say what to change instead.
    throw new InvalidOptionsError(`keycard: ${adapter} needs SessionModule.forRoot() (or forRootAsync) in the application module`);
  }
}
