import { Injectable, SetMetadata } from '@nestjs/common';
import { KeycardError } from '../core/errors.js';
import { SessionBinding } from './binding.js';
import { graphqlRequestIn } from './context.js';
import { toAccessError } from './errors.js';
import { responseOf } from './platform.js';

/**
 * The metadata key of `@Plugin()` from @nestjs/apollo (`PLUGIN_METADATA`),
 * which keycard/nest does not import (an optional peer). Nest's Apollo
 * driver hands every provider carrying it to Apollo Server as a plugin; the
 * GraphQL e2e suite runs the real driver, so a renamed key fails it.
 */
const APOLLO_PLUGIN_METADATA = 'graphql:plugin';

/** The parts of Apollo Server's request context used here (no Apollo types in keycard's typings). */
interface ApolloResponseContext {
  readonly contextValue: unknown;
  readonly response: {
    body: unknown;
    readonly http: { status?: number | undefined };
  };
}

/**
 * Saves the session of a GraphQL operation before Apollo sends its response,
 * on Express. A sign-in or sign-out mutation then sets or clears the cookie
 * exactly as a controller does (rotation, `Cache-Control: no-store`,
 * `Clear-Site-Data`), whether or not anything else commits HTTP responses:
 * Apollo's Express middleware is not a Nest route, so no HTTP interceptor
 * or route hook sees it. On Fastify the binding's `onSend` hook commits every
 * reply, Mercurius' and Apollo's alike, so this does nothing there.
 *
 * Provided by `SessionModule`; Nest's Apollo driver installs it by itself
 * (every provider marked as an Apollo plugin is). With the driver's
 * `include` option, include the module that imports `SessionModule`.
 *
 * When the store cannot save (outage), the answer becomes a GraphQL error
 * with `extensions.code` `SERVICE_UNAVAILABLE` and status 503, never a
 * response that claims a sign-in or sign-out that did not happen.
 */
@Injectable()
@SetMetadata(APOLLO_PLUGIN_METADATA, true)
export class GraphqlCommitPlugin {
  private readonly listener: { willSendResponse(context: ApolloResponseContext): Promise<void> };

  constructor(binding: SessionBinding) {
    this.listener = {
      async willSendResponse(context) {
        // On Fastify the binding's onSend hook commits every reply, Apollo's included.
        if (binding.platform !== 'express') return;
        const request = graphqlRequestIn(context.contextValue);
        if (request === undefined || !binding.needsCommit(request)) return;
        const response = responseOf(request);
        if (response === undefined) return;
        try {
          await binding.commit(request, response);
        } catch (error) {
          if (!(error instanceof KeycardError)) throw error;
          const refusal = toAccessError(error);
          context.response.body = {
            kind: 'single',
            singleResult: { errors: [{ message: refusal.message, extensions: refusal.extensions }] },
          };
          context.response.http.status = refusal.status;
        }
      },
    };
  }

  /** Apollo Server calls it for every operation; one listener object serves them all. */
  async requestDidStart(): Promise<GraphqlCommitPlugin['listener'] | undefined> {
    return this.listener;
  }
}
