/**
 * `SessionAccessError` is a `KeycardError` (issue 11: every keycard error
 * extends it, with a code in `KeycardErrorCode`) and keeps its mapping: 401
 * and 403 over HTTP on both platforms, GraphQL errors with
 * `extensions.code`, the `{status, statusCode, code, message}` body for
 * WebSocket and RPC refusals. Regression: it extended plain Error, so code
 * that handles keycard errors by `instanceof KeycardError` (a catch-all
 * filter, a logger) missed the guards' refusals.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Controller, Get, type ModuleMetadata } from '@nestjs/common';
import { ApolloDriver, type ApolloDriverConfig } from '@nestjs/apollo';
import { GraphQLModule, Query, Resolver } from '@nestjs/graphql';
import { MercuriusDriver, type MercuriusDriverConfig } from '@nestjs/mercurius';
import { KeycardError, type KeycardErrorCode } from '../src/index.js';
import { Public, SessionAccessError, SessionModule, toAccessError, toHttpException, type SessionAccessCode } from '../src/nest/index.js';
import { PLATFORMS, expectKeycardError, startApp, type Platform, type RunningApp } from './support/http.js';
import { SECRET } from './support/session-app.js';

/** What an application's own authorization code (shared by controllers and resolvers) throws. */
function notYourProject(): SessionAccessError {
  return toAccessError('KEYCARD_FORBIDDEN_ROLE', 'This project belongs to another team.');
}

@Controller()
class ProjectsController {
  @Public()
  @Get('projects/theirs')
  theirs(): never {
    throw notYourProject();
  }
}

@Resolver()
class ProjectsResolver {
  @Public()
  @Query(() => String)
  theirProject(): string {
    throw notYourProject();
  }
}

function appFor(platform: Platform): ModuleMetadata {
  const graphql =
    platform === 'express'
      ? GraphQLModule.forRoot<ApolloDriverConfig>({ driver: ApolloDriver, graphiql: false, autoSchemaFile: true })
      : GraphQLModule.forRoot<MercuriusDriverConfig>({ driver: MercuriusDriver, graphiql: false, autoSchemaFile: true });
  return {
    imports: [SessionModule.forRoot({ secrets: SECRET, csrf: false }), graphql],
    controllers: [ProjectsController],
    providers: [ProjectsResolver],
  };
}

describe('SessionAccessError', () => {
  it('is a KeycardError whose code is in KeycardErrorCode, named for its class', () => {
    const error = toAccessError('KEYCARD_UNAUTHENTICATED');
    assert.ok(error instanceof KeycardError);
    assert.ok(error instanceof SessionAccessError);
    const code: KeycardErrorCode = error.code;
    assert.equal(code, 'KEYCARD_UNAUTHENTICATED');
    assert.equal(error.name, 'SessionAccessError');
    assert.equal(error.status, 401);
  });

  it('keeps its status through toHttpException (401/403, not the 500 of an unknown keycard failure)', () => {
    const cases: [SessionAccessCode, number][] = [
      ['KEYCARD_UNAUTHENTICATED', 401],
      ['KEYCARD_FORBIDDEN_ROLE', 403],
      ['KEYCARD_REAUTHENTICATE', 403],
      ['KEYCARD_CSRF_MISSING', 403],
    ];
    for (const [code, status] of cases) {
      const http = toHttpException(toAccessError(code, 'a message of its own'));
      assert.deepEqual([http.getStatus(), http.code, (http.getResponse() as { message: string }).message], [status, code, 'a message of its own'], code);
    }
  });

  it('GraphQL extensions and the WebSocket/RPC body are unchanged', () => {
    const error = toAccessError('KEYCARD_FORBIDDEN_ROLE');
    assert.deepEqual(error.extensions, { code: 'FORBIDDEN', keycardCode: 'KEYCARD_FORBIDDEN_ROLE' });
    assert.deepEqual(error.body, { status: 'error', statusCode: 403, code: 'KEYCARD_FORBIDDEN_ROLE', message: error.message });
    assert.equal(toAccessError(error), error, 'mapping a refusal again gives the same refusal');
  });
});

for (const platform of PLATFORMS) {
  describe(`a SessionAccessError thrown by application code on ${platform}`, () => {
    let app: RunningApp;
    before(async () => {
      app = await startApp(platform, appFor(platform));
    });
    after(() => app.close());

    it('is answered over HTTP with its own status, code and message', async () => {
      const result = await app.client().get('/projects/theirs');
      expectKeycardError(result, 403, 'KEYCARD_FORBIDDEN_ROLE');
      assert.equal((result.body as { message: string }).message, 'This project belongs to another team.');
    });

    it(`is a GraphQL error with extensions.code on ${platform === 'express' ? 'Apollo' : 'Mercurius'}`, async () => {
      const result = await app.client().post('/graphql', { query: '{ theirProject }' });
      assert.notEqual(result.status, 500, result.text);
      const errors = (result.body as { errors?: { message: string; extensions?: Record<string, unknown> }[] }).errors ?? [];
      assert.equal(errors.length, 1, result.text);
      assert.equal(errors[0]?.message, 'This project belongs to another team.');
      assert.equal(errors[0]?.extensions?.['code'], 'FORBIDDEN');
      assert.equal(errors[0]?.extensions?.['keycardCode'], 'KEYCARD_FORBIDDEN_ROLE');
    });
  });
}
