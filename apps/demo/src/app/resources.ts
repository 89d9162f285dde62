import { Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';

export const RESOURCES = Symbol('RESOURCES');

/** Things opened before Nest started, closed in reverse order after the HTTP server stopped. */
export interface Closable {
  readonly name: string;
  close(): Promise<void>;
}

/**
 * Nest calls this after the HTTP server has closed (in-flight requests have
 * finished), so the stores and the database go last.
 */
@Injectable()
export class ResourcesLifecycle implements OnApplicationShutdown {
  private readonly logger = new Logger('Shutdown');

  constructor(@Inject(RESOURCES) private readonly resources: Closable[]) {}

  async onApplicationShutdown(): Promise<void> {
    await closeAll(this.resources, (name, error) => this.logger.error(`closing ${name} failed: ${String(error)}`));
  }
}

/** Closes in reverse order of opening; one failure does not keep the rest open. */
export async function closeAll(resources: Closable[], onError: (name: string, error: unknown) => void): Promise<void> {
  while (resources.length > 0) {
    const resource = resources.pop() as Closable;
    try {
      await resource.close();
    } catch (error) {
      onError(resource.name, error);
    }
  }
}
