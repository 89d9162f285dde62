import { Injectable, Module, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { EventEmitter2 } from '@nestjs/event-emitter';
import { SessionManager } from '../../core/manager.js';
import type { SessionEventType } from '../../core/events.js';

/** The event name each keycard event is emitted under: `keycard.session.<type>`, e.g. `keycard.session.revoked`. */
export function eventName(type: SessionEventType): string {
  return `keycard.session.${type}`;
}

/**
 * Re-emits every keycard event (`SessionManager.events`) on
 * `@nestjs/event-emitter`, so audit code is an ordinary listener:
 *
 * ```ts
 * @OnEvent('keycard.session.revoked')
 * audit(event: SessionEvent) { … }
 * ```
 *
 * Emitted synchronously (`emit`), like keycard's own events; a listener that
 * throws is isolated from the request by keycard's emitter. Async listeners
 * (`@OnEvent(…, { async: true })`) run outside the request.
 */
@Injectable()
export class KeycardEventBridge implements OnModuleInit, OnModuleDestroy {
  private stop: (() => void) | null = null;

  constructor(
    private readonly manager: SessionManager,
    private readonly emitter: EventEmitter2,
  ) {}

  onModuleInit(): void {
    this.stop = this.manager.events.on('*', (event) => {
      this.emitter.emit(eventName(event.type), event);
    });
  }

  onModuleDestroy(): void {
    this.stop?.();
    this.stop = null;
  }
}

/** Import after `EventEmitterModule.forRoot()` and `SessionModule` (both global). */
@Module({ providers: [KeycardEventBridge] })
export class KeycardEventsModule {}
