import type { ModuleRef, ModulesContainer } from '@nestjs/core';
import { MetadataScanner } from '@nestjs/core';
import { InvalidOptionsError } from '../core/errors.js';
import { FRESH_AUTH_METADATA, ROLES_METADATA } from './metadata.js';

/**
 * The metadata key `@ResolveField()` puts on its method, and the token of
 * GraphQLModule's options (`RESOLVER_PROPERTY_METADATA` and
 * `GRAPHQL_MODULE_OPTIONS` of @nestjs/graphql, which keycard/nest does not
 * import: it is an optional peer). graphql-field-roles.test runs against the
 * real package on both drivers, so a renamed key fails it.
 */
const RESOLVE_FIELD_METADATA = 'graphql:resolve_property';
const GRAPHQL_MODULE_OPTIONS = 'GqlModuleOptions';

/** `Class.method` of every @ResolveField carrying @Roles or @RequireFreshAuth (on the method or its class). */
function guardedFieldResolvers(modules: ModulesContainer): string[] {
  const scanner = new MetadataScanner();
  const seen = new Set<object>();
  const found: string[] = [];
  for (const module of modules.values()) {
    for (const wrapper of module.providers.values()) {
      const type = wrapper.metatype;
      if (typeof type !== 'function' || seen.has(type) || type.prototype === undefined) continue;
      seen.add(type);
      const prototype = type.prototype as Record<string, unknown>;
      for (const name of scanner.getAllMethodNames(prototype)) {
        const handler = prototype[name];
        if (typeof handler !== 'function' || Reflect.getMetadata(RESOLVE_FIELD_METADATA, handler) !== true) continue;
        const guarded = [ROLES_METADATA, FRESH_AUTH_METADATA].some(
          (key) => Reflect.getMetadata(key, handler) !== undefined || Reflect.getMetadata(key, type) !== undefined,
        );
        if (guarded) found.push(`${type.name}.${name}`);
      }
    }
  }
  return found;
}

/**
 * Fails the start-up when a GraphQL field resolver carries `@Roles` or
 * `@RequireFreshAuth` but the GraphQL module runs no guard on field
 * resolvers: Nest calls a `@ResolveField` method without any guard (its own
 * or global) unless `fieldResolverEnhancers` includes 'guards', so the
 * decorator would be ignored and the field served to anyone who can reach
 * its parent. Secure by default: refuse rather than serve it.
 */
export function refuseUnguardedFieldResolvers(modules: ModulesContainer, moduleRef: ModuleRef): void {
  const fields = guardedFieldResolvers(modules);
  if (fields.length === 0) return;
  let options: { fieldResolverEnhancers?: unknown } | undefined;
  try {
    options = moduleRef.get<{ fieldResolverEnhancers?: unknown }>(GRAPHQL_MODULE_OPTIONS, { strict: false });
  } catch {
    return; // no GraphQLModule: the resolvers are never served
  }
  const enhancers = options?.fieldResolverEnhancers;
  if (Array.isArray(enhancers) && enhancers.includes('guards')) return;
  throw new InvalidOptionsError(
    `keycard: @Roles/@RequireFreshAuth on the GraphQL field resolver${fields.length > 1 ? 's' : ''} ${fields.join(', ')} would not be checked: ` +
      "Nest runs no guard on a @ResolveField unless GraphQLModule.forRoot({ fieldResolverEnhancers: ['guards'] }) is set. " +
      'Set it (keycard then checks fields like queries; mark fields of public types @Public()), or move the decorator to the query or mutation.',
  );
}
