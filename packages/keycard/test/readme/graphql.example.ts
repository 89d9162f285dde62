import { Module } from '@nestjs/common';
import { ApolloDriver, type ApolloDriverConfig } from '@nestjs/apollo';
import { Args, GraphQLModule, Mutation, Query, Resolver } from '@nestjs/graphql';
import type { Principal, Session as KeycardSession } from '../../src/index.js';
import { CurrentUser, GraphqlSubscriptionAuth, Public, Roles, Session, SessionModule, SessionService } from '../../src/nest/index.js';

@Resolver()
export class AccountResolver {
  constructor(private readonly sessions: SessionService) {}

  @Public()
  @Query(() => String)
  hello(): string {
    return 'world';
  }

  @Query(() => String) // signed in, else UNAUTHENTICATED
  me(@CurrentUser() user: Principal): string {
    return user.id;
  }

  @Roles('admin') // FORBIDDEN for anyone else
  @Query(() => Number)
  userCount(): number {
    return 1;
  }

  @Public()
  @Mutation(() => Boolean) // sets the cookie (new id, Cache-Control: no-store)
  async signIn(@Session() session: KeycardSession, @Args('id') id: string): Promise<boolean> {
    await this.sessions.signIn(session, { id, roles: ['user'], authVersion: 1 });
    return true;
  }
}

@Module({
  imports: [
    SessionModule.forRoot({ secrets: process.env['SESSION_SECRET'] ?? '' }),
    GraphQLModule.forRootAsync<ApolloDriverConfig>({
      driver: ApolloDriver,
      inject: [GraphqlSubscriptionAuth],
      useFactory: (auth: GraphqlSubscriptionAuth) => ({
        autoSchemaFile: true,
        subscriptions: { 'graphql-ws': auth.graphqlWs() }, // cookie-authenticated, closed at sign-out
      }),
    }),
  ],
  providers: [AccountResolver],
})
export class AppModule {}
