import { Controller, Get, Injectable, Req, type ModuleMetadata } from '@nestjs/common';
import { ApolloDriver, type ApolloDriverConfig } from '@nestjs/apollo';
import { Args, Field, GraphQLModule, Mutation, ObjectType, Parent, Query, ResolveField, Resolver, Subscription } from '@nestjs/graphql';
import { MercuriusDriver, type MercuriusDriverConfig } from '@nestjs/mercurius';
import type { Principal, Session as KeycardSession } from '../../src/index.js';
import {
  CurrentUser,
  GraphqlSubscriptionAuth,
  Public,
  Roles,
  Session,
  SessionModule,
  SessionService,
  csrfTokenFor,
  type RequestLike,
  type SessionModuleOptions,
} from '../../src/nest/index.js';
import type { Platform } from './http.js';
import { SECRET } from './session-app.js';

/** What the resolvers did: a refused or forged operation must leave no trace here. */
@Injectable()
export class SideEffects {
  readonly notes: string[] = [];
}

@ObjectType('User')
export class UserType {
  @Field()
  id!: string;
  @Field(() => [String])
  roles!: string[];
}

function principalOf(id: string, admin: boolean): Principal {
  return { id, roles: admin ? ['admin'] : ['user'], authVersion: 1 };
}

/** A field resolver reading the session: the session keycard loaded for the request, not a store call per field. */
@Resolver(() => UserType)
export class UserFieldsResolver {
  @ResolveField(() => String)
  greeting(@Parent() user: UserType, @CurrentUser() me: Principal | null): string {
    return `${user.id} seen by ${me?.id ?? 'nobody'}`;
  }
}

/** Ticks for the subscription test: `tick` pushes one event to every subscriber. */
@Injectable()
export class Ticker {
  private readonly waiting = new Set<(value: IteratorResult<{ ticks: string }>) => void>();
  /** Subscribers waiting for the next tick. */
  get subscribers(): number {
    return this.waiting.size;
  }
  tick(value: string): void {
    for (const wake of this.waiting) wake({ value: { ticks: value }, done: false });
    this.waiting.clear();
  }
  iterator(): AsyncIterableIterator<{ ticks: string }> {
    const waiting = this.waiting;
    return {
      next: () => new Promise((resolve) => waiting.add(resolve)),
      return: async () => ({ value: undefined, done: true }),
      [Symbol.asyncIterator]() {
        return this;
      },
    };
  }
}

/** Code-first resolvers: the same operations as the schema-first ones below. */
@Resolver()
export class CodeFirstResolver {
  constructor(
    private readonly sessions: SessionService,
    private readonly effects: SideEffects,
    private readonly ticker: Ticker,
  ) {}

  @Public()
  @Query(() => String)
  hello(): string {
    return 'world';
  }

  @Query(() => UserType)
  me(@CurrentUser() user: Principal): UserType {
    return { id: user.id, roles: [...user.roles] };
  }

  @Public()
  @Query(() => String, { nullable: true })
  whoami(@CurrentUser() user: Principal | null): string | null {
    return user?.id ?? null;
  }

  @Roles('admin')
  @Query(() => String)
  adminSecret(): string {
    return 'admin-only';
  }

  @Public()
  @Mutation(() => UserType)
  async signIn(
    @Session() session: KeycardSession,
    @Args('id') id: string,
    @Args('admin', { type: () => Boolean, nullable: true }) admin: boolean | null,
  ): Promise<UserType> {
    await this.sessions.signIn(session, principalOf(id, admin === true));
    return { id, roles: admin ? ['admin'] : ['user'] };
  }

  @Mutation(() => Boolean)
  async signOut(@Session() session: KeycardSession): Promise<boolean> {
    await this.sessions.signOut(session);
    return true;
  }

  @Public()
  @Mutation(() => Boolean)
  addNote(@Args('note') note: string): boolean {
    this.effects.notes.push(note);
    return true;
  }

  @Subscription(() => String)
  ticks(): AsyncIterableIterator<{ ticks: string }> {
    return this.ticker.iterator();
  }
}

export const SCHEMA = /* GraphQL */ `
  type User { id: String!, roles: [String!]! }
  type Query { hello: String!, me: User!, whoami: String, adminSecret: String! }
  type Mutation { signIn(id: String!, admin: Boolean): User!, signOut: Boolean!, addNote(note: String!): Boolean! }
  type Subscription { ticks: String! }
`;

/** Schema-first: the SDL above, resolvers by name. */
@Resolver('Query')
export class SchemaFirstQueries {
  @Public()
  @Query('hello')
  hello(): string {
    return 'world';
  }

  @Query('me')
  me(@CurrentUser() user: Principal): UserType {
    return { id: user.id, roles: [...user.roles] };
  }

  @Public()
  @Query('whoami')
  whoami(@CurrentUser() user: Principal | null): string | null {
    return user?.id ?? null;
  }

  @Roles('admin')
  @Query('adminSecret')
  adminSecret(): string {
    return 'admin-only';
  }
}

@Resolver('Mutation')
export class SchemaFirstMutations {
  constructor(
    private readonly sessions: SessionService,
    private readonly effects: SideEffects,
  ) {}

  @Public()
  @Mutation('signIn')
  async signIn(@Session() session: KeycardSession, @Args('id') id: string, @Args('admin') admin: boolean | null): Promise<UserType> {
    await this.sessions.signIn(session, principalOf(id, admin === true));
    return { id, roles: admin ? ['admin'] : ['user'] };
  }

  @Mutation('signOut')
  async signOut(@Session() session: KeycardSession): Promise<boolean> {
    await this.sessions.signOut(session);
    return true;
  }

  @Public()
  @Mutation('addNote')
  addNote(@Args('note') note: string): boolean {
    this.effects.notes.push(note);
    return true;
  }
}

@Resolver('Subscription')
export class SchemaFirstSubscriptions {
  constructor(private readonly ticker: Ticker) {}

  @Subscription('ticks')
  ticks(): AsyncIterableIterator<{ ticks: string }> {
    return this.ticker.iterator();
  }
}

/** The pre-session CSRF token, for sign-in mutations (login CSRF). */
@Controller()
export class CsrfTokenController {
  @Public()
  @Get('csrf')
  token(@Req() request: RequestLike): { token: string } {
    return { token: csrfTokenFor(request) };
  }
}

export type SchemaStyle = 'code-first' | 'schema-first';

/** The GraphQL driver each platform uses: Apollo on Express, Mercurius on Fastify. */
export function graphqlModule(platform: Platform, style: SchemaStyle, subscriptions: Record<string, unknown> = {}) {
  const schema = style === 'code-first' ? { autoSchemaFile: true as const } : { typeDefs: SCHEMA };
  if (platform === 'express') {
    return GraphQLModule.forRoot<ApolloDriverConfig>({ driver: ApolloDriver, graphiql: false, ...schema, ...subscriptions });
  }
  return GraphQLModule.forRoot<MercuriusDriverConfig>({ driver: MercuriusDriver, graphiql: false, ...schema, ...subscriptions });
}

/** The same, with subscriptions authenticated by keycard (graphql-ws on Apollo, Mercurius' own on Fastify). */
export function graphqlModuleWithSubscriptions(platform: Platform, style: SchemaStyle = 'code-first') {
  const schema = style === 'code-first' ? { autoSchemaFile: true as const } : { typeDefs: SCHEMA };
  if (platform === 'express') {
    return GraphQLModule.forRootAsync<ApolloDriverConfig>({
      driver: ApolloDriver,
      inject: [GraphqlSubscriptionAuth],
      useFactory: (auth: GraphqlSubscriptionAuth) => ({ graphiql: false, ...schema, subscriptions: { 'graphql-ws': auth.graphqlWs() } }),
    });
  }
  return GraphQLModule.forRootAsync<MercuriusDriverConfig>({
    driver: MercuriusDriver,
    inject: [GraphqlSubscriptionAuth],
    useFactory: (auth: GraphqlSubscriptionAuth) => ({ graphiql: false, ...schema, subscription: auth.mercurius() }),
  });
}

/** A GraphQL test app: keycard with CSRF on, the resolvers of `style`, GET /csrf. */
export function graphqlApp(
  platform: Platform,
  style: SchemaStyle,
  options: Partial<SessionModuleOptions> = {},
  graphql = graphqlModule(platform, style),
): ModuleMetadata {
  const resolvers = style === 'code-first' ? [CodeFirstResolver, UserFieldsResolver] : [SchemaFirstQueries, SchemaFirstMutations, SchemaFirstSubscriptions];
  return {
    imports: [SessionModule.forRoot({ secrets: SECRET, ...options }), graphql],
    controllers: [CsrfTokenController],
    providers: [SideEffects, Ticker, ...resolvers],
  };
}
