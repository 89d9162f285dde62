import type { ExecutionContext } from '@nestjs/common';
import type { Reflector } from '@nestjs/core';

/** Metadata keys of the decorators, read by the guards. Symbols: no clash with an application's own keys. */
export const PUBLIC_METADATA = Symbol('keycard:public');
export const ROLES_METADATA = Symbol('keycard:roles');
/** Milliseconds. */
export const FRESH_AUTH_METADATA = Symbol('keycard:fresh-auth');

/**
 * One decorator's value per route, read through the Reflector the first time
 * a route is hit and then remembered, so that a global guard costs no
 * metadata walk per request. Route metadata is fixed once decorators have run
 * (Nest keeps its own per-handler metadata the same way). Keyed by handler
 * and class: an inherited handler can sit under classes with different
 * metadata.
 */
export class RouteMetadata<T> {
  private readonly byHandler = new WeakMap<object, Map<object, { readonly value: T | undefined }>>();

  constructor(
    private readonly reflector: Reflector,
    private readonly key: symbol,
  ) {}

  /** The method's value, else the class's (`Reflector.getAllAndOverride`). */
  get(context: ExecutionContext): T | undefined {
    const handler = context.getHandler();
    const type = context.getClass();
    let byClass = this.byHandler.get(handler);
    if (byClass === undefined) {
      byClass = new Map();
      this.byHandler.set(handler, byClass);
    }
    let entry = byClass.get(type);
    if (entry === undefined) {
      entry = { value: this.reflector.getAllAndOverride<T | undefined>(this.key, [handler, type]) };
      byClass.set(type, entry);
    }
    return entry.value;
  }
}
