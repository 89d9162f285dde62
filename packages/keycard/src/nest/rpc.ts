import type { CanActivate, ExceptionFilter } from '@nestjs/common';
import { EXCEPTION_FILTERS_METADATA, GUARDS_METADATA } from '@nestjs/common/constants.js';
import { MetadataScanner, type ModulesContainer } from '@nestjs/core';

/**
 * The metadata key `@MessagePattern()` and `@EventPattern()` put on a
 * handler (`PATTERN_METADATA` of @nestjs/microservices, which keycard/nest
 * does not import: it is an optional peer). The microservice e2e suite runs
 * against the real package, so a renamed key fails it.
 */
const PATTERN_METADATA = 'microservices:pattern';

/**
 * Puts `guard` in front of the method guards of every microservice handler
 * (`@MessagePattern`, `@EventPattern`) of the application, and `filter`
 * behind its method filters (so the application's own filters still come
 * first, and the client gets keycard's `{ status, code, message }` instead
 * of "Internal server error"). Returns how many handlers it guarded.
 *
 * Why: a hybrid application's microservice (`app.connectMicroservice(...)`)
 * gets the application's global guards only with `{ inheritAppConfig: true }`;
 * without it Nest runs its handlers with no global guard at all, so keycard's
 * "everything needs a session unless @Public()" would silently not hold
 * there. A method guard is read when the microservice registers its
 * handlers, whatever the hybrid options, so keycard installs its guard there
 * itself (with `inheritAppConfig` the global one runs too; both decide alike).
 * It must run before `connectMicroservice`, which registers handlers at
 * once: `SessionModule` calls it while the application is created.
 *
 * An instance, not the class: Nest resolves a guard class only when it was
 * registered at scan time, and skips one it cannot resolve without a word.
 */
export function guardRpcHandlers(modules: ModulesContainer, guard: CanActivate, filter: ExceptionFilter): number {
  const scanner = new MetadataScanner();
  const seen = new Set<object>();
  let guarded = 0;
  for (const module of modules.values()) {
    for (const wrapper of module.controllers.values()) {
      const type = wrapper.metatype;
      if (typeof type !== 'function' || seen.has(type)) continue;
      seen.add(type);
      const prototype = type.prototype as Record<string, unknown>;
      for (const name of scanner.getAllMethodNames(prototype)) {
        const handler = prototype[name];
        if (typeof handler !== 'function' || Reflect.getMetadata(PATTERN_METADATA, handler) === undefined) continue;
        const guards: readonly unknown[] = Reflect.getMetadata(GUARDS_METADATA, handler) ?? [];
        if (guards.includes(guard)) continue;
        Reflect.defineMetadata(GUARDS_METADATA, [guard, ...guards], handler);
        // Nest tries method filters last-declared first: the first entry is asked last.
        const filters: readonly unknown[] = Reflect.getMetadata(EXCEPTION_FILTERS_METADATA, handler) ?? [];
        Reflect.defineMetadata(EXCEPTION_FILTERS_METADATA, [filter, ...filters], handler);
        guarded++;
      }
    }
  }
  return guarded;
}
