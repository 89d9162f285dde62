/**
 * Review #5: `@Roles` on a GraphQL `@ResolveField`. Nest runs no guard on a
 * field resolver unless GraphQLModule has `fieldResolverEnhancers:
 * ['guards']`, so keycard refuses to start when such a field would go
 * unchecked, and checks it like a query when the guards run. Apollo on
 * Express, Mercurius on Fastify, over real HTTP.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ApolloDriver, type ApolloDriverConfig } from '@nestjs/apollo';
import { Args, Field, GraphQLModule, Mutation, ObjectType, Query, ResolveField, Resolver } from '@nestjs/graphql';
import { MercuriusDriver, type MercuriusDriverConfig } from '@nestjs/mercurius';
import type { ModuleMetadata } from '@nestjs/common';
import { InvalidOptionsError, type Principal, type Session as KeycardSession } from '../src/index.js';
import { CurrentUser, Public, Roles, Session, SessionModule, SessionService } from '../src/nest/index.js';
import { PLATFORMS, startApp, type Client, type Platform, type RunningApp } from './support/http.js';
import { SECRET } from './support/session-app.js';

@ObjectType('Account')
class AccountType {
  @Field()
  id!: string;
}

@Resolver(() => AccountType)
class AccountFieldsResolver {
  /** Only admins may read it: the field the review read as a plain user. */
  @Roles('admin')
  @ResolveField(() => String)
  secretNote(): string {
    return 'admin-only field';
  }
}

@Resolver()
class AccountResolver {
  constructor(private readonly sessions: SessionService) {}

  @Query(() => AccountType)
  account(@CurrentUser() user: Principal): AccountType {
    return { id: user.id };
  }

  @Public()
  @Mutation(() => Boolean)
  async signIn(@Session() session: KeycardSession, @Args('id') id: string, @Args('admin') admin: boolean): Promise<boolean> {
    await this.sessions.signIn(session, { id, roles: admin ? ['admin'] : ['user'], authVersion: 1 });
    return true;
  }
}

function app(platform: Platform, fieldGuards: boolean): ModuleMetadata {
  const enhancers = fieldGuards ? { fieldResolverEnhancers: ['guards' as const] } : {};
  const graphql =
    platform === 'express'
      ? GraphQLModule.forRoot<ApolloDriverConfig>({ driver: ApolloDriver, autoSchemaFile: true, ...enhancers })
      : GraphQLModule.forRoot<MercuriusDriverConfig>({ driver: MercuriusDriver, autoSchemaFile: true, ...enhancers });
  return {
    imports: [SessionModule.forRoot({ secrets: SECRET, csrf: false }), graphql],
    providers: [AccountResolver, AccountFieldsResolver],
  };
}

async function gql(client: Client, query: string): Promise<{ data?: unknown; errors?: { extensions?: { code?: string; keycardCode?: string } }[] }> {
  const result = await client.fetch('/graphql', { method: 'POST', json: { query } });
  return result.body as { data?: unknown; errors?: { extensions?: { code?: string; keycardCode?: string } }[] };
}

async function signedIn(running: RunningApp, id: string, admin: boolean): Promise<Client> {
  const client = running.client();
  const answer = await gql(client, `mutation { signIn(id: "${id}", admin: ${admin}) }`);
  assert.deepEqual(answer.data, { signIn: true }, JSON.stringify(answer));
  return client;
}

for (const platform of PLATFORMS) {
  const driver = platform === 'express' ? 'Apollo' : 'Mercurius';
  describe(`review #5: @Roles on a @ResolveField, ${driver} on ${platform}`, () => {
    it('refuses to start when the GraphQL module runs no guard on field resolvers, naming the field and the option to set', async () => {
      let running: RunningApp | undefined;
      try {
        running = await startApp(platform, app(platform, false));
      } catch (error) {
        assert.ok(error instanceof InvalidOptionsError, String(error));
        assert.match(error.message, /AccountFieldsResolver\.secretNote/);
        assert.match(error.message, /fieldResolverEnhancers: \['guards'\]/);
        return;
      }
      // Before the fix the app started, and a plain user read the admin-only field.
      const user = await signedIn(running, 'mallory', false);
      const answer = await gql(user, '{ account { id secretNote } }');
      await running.close();
      assert.fail(`the app started, and a user got ${JSON.stringify(answer)}`);
    });

    describe("with fieldResolverEnhancers: ['guards']", () => {
      let running: RunningApp;
      before(async () => {
        running = await startApp(platform, app(platform, true));
      });
      after(() => running?.close());

      it('refuses the field to a user with FORBIDDEN and no data for it, and answers an admin', async () => {
        const user = await signedIn(running, 'uma', false);
        const refused = await gql(user, '{ account { id secretNote } }');
        assert.equal(refused.errors?.length, 1, JSON.stringify(refused));
        assert.equal(refused.errors?.[0]?.extensions?.code, 'FORBIDDEN');
        assert.equal(refused.errors?.[0]?.extensions?.keycardCode, 'KEYCARD_FORBIDDEN_ROLE');
        assert.doesNotMatch(JSON.stringify(refused), /admin-only field/);
        const admin = await signedIn(running, 'ada', true);
        assert.deepEqual((await gql(admin, '{ account { id secretNote } }')).data, { account: { id: 'ada', secretNote: 'admin-only field' } });
      });
    });
  });
}
